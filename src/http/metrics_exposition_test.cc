// Metrics::Render's whole output read back by a strict reader of the text exposition format
// (0.0.4) and by Prometheus' own promtool: what a scraper gets always parses, every family
// once, HELP and TYPE first, histograms consistent.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/file.h"
#include "base/utf8.h"
#include "http/metrics.h"

namespace metastack::http {
namespace {

// ---- A strict reader ----------------------------------------------------------------------

const std::regex kMetricName("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");
const std::regex kValue(R"([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN)");
const std::regex kInteger(R"(0|-?[1-9]\d*)");

using LabelList = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;
  LabelList labels;
  double value = 0;
};

// The fewest significant digits %g needs for `v` to read back.
int ShortestDigits(double v) {
  for (int p = 1; p < 17; ++p) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) return p;
  }
  return 17;
}

// The significant digits of a number's text, trailing zeros included ("0.10" has 2).
int SignificantDigits(const std::string& text) {
  std::string digits;
  for (char c : text.substr(0, text.find_first_of("eE")))
    if (c >= '0' && c <= '9' && (c != '0' || !digits.empty())) digits += c;
  return static_cast<int>(digits.size());
}

// Why `text` is not how Prometheus writes `v`, or "": integers (up to 2^53) in digits alone,
// other numbers with the fewest digits that read back, "+Inf", "-Inf", "NaN".
std::string ValueProblem(const std::string& text, double v) {
  if (!std::regex_match(text, kValue)) return "value \"" + text + "\" does not parse";
  if (!std::isfinite(v)) return "";
  if (v == std::trunc(v) && std::fabs(v) <= 0x1p53) {
    if (!std::regex_match(text, kInteger)) return "integer value written \"" + text + "\"";
  } else if (SignificantDigits(text) != ShortestDigits(v)) {
    return "value \"" + text + "\" is not the shortest that reads back";
  }
  return "";
}

double ParseValue(const std::string& text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::nan("");
  return std::strtod(text.c_str(), nullptr);
}

// Reads `name{a="1",b="2"} value`; "" or the problem.
std::string ParseSample(const std::string& line, Sample& s) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  if (!std::regex_match(s.name, kMetricName)) return "metric name \"" + s.name + "\"";
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t eq = line.find('=', i);
      if (eq == std::string::npos) return "label without '='";
      std::string name = line.substr(i, eq - i);
      if (!std::regex_match(name, kLabelName)) return "label name \"" + name + "\"";
      for (const auto& [other, _] : s.labels)
        if (other == name) return "label \"" + name + "\" twice";
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return "label value not quoted";
      std::string value;
      for (++i;; ++i) {
        if (i >= line.size()) return "label value not terminated";
        if (line[i] == '"') break;
        if (line[i] == '\\') {
          char e = ++i < line.size() ? line[i] : '\0';
          if (e == 'n')
            value += '\n';
          else if (e == '\\' || e == '"')
            value += e;
          else
            return "escape \"\\" + std::string(1, e) + "\" in a label value";
        } else {
          value += line[i];
        }
      }
      if (!IsValidUtf8(value)) return "label value not UTF-8";
      s.labels.emplace_back(name, value);
      ++i;
      if (i < line.size() && line[i] == ',') {
        ++i;
        if (i < line.size() && line[i] == '}') return "trailing ',' in labels";
      } else if (i >= line.size() || line[i] != '}') {
        return "labels not closed";
      }
    }
    if (i >= line.size()) return "labels not closed";
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return "no space before the value";
  std::string value = line.substr(i + 1);
  if (value.find(' ') != std::string::npos) return "more than a value after the labels";
  s.value = ParseValue(value);
  return ValueProblem(value, s.value);
}

struct Bucket {
  double le;
  double count;
};
struct HistogramSeen {
  std::vector<Bucket> buckets;
  std::optional<double> sum, count;
};

class Reader {
 public:
  std::vector<std::string> Read(std::string_view text) {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ++line_no_;
      Line(std::string(text.substr(start, end - start)));
      start = end + 1;
    }
    EndFamily();
    if (!text.empty() && text.back() != '\n') Problem("the text does not end in a line feed");
    return problems_;
  }

 private:
  void Problem(const std::string& what) {
    problems_.push_back("line " + std::to_string(line_no_) + ": " + what);
  }

  void Line(const std::string& line) {
    if (line.starts_with("# HELP ")) return Help(line.substr(7));
    if (line.starts_with("# TYPE ")) return Type(line.substr(7));
    if (line.empty() || line[0] == '#') return Problem("not a HELP, TYPE or sample line");
    Sample s;
    if (std::string why = ParseSample(line, s); !why.empty()) return Problem(why);
    SampleLine(s);
  }

  void Help(const std::string& rest) {
    EndFamily();
    size_t sp = rest.find(' ');
    family_ = rest.substr(0, sp);
    if (!std::regex_match(family_, kMetricName)) Problem("HELP of \"" + family_ + "\"");
    if (!families_.insert(family_).second) Problem("family " + family_ + " again");
    std::string help = sp == std::string::npos ? "" : rest.substr(sp + 1);
    if (help.empty()) Problem("HELP of " + family_ + " is empty");
    for (size_t i = 0; i < help.size(); ++i)
      if (help[i] == '\\' && (i + 1 == help.size() || (help[++i] != '\\' && help[i] != 'n')))
        Problem("escape in the HELP of " + family_);
    type_.clear();
    samples_ = 0;
  }

  void Type(const std::string& rest) {
    size_t sp = rest.find(' ');
    std::string name = rest.substr(0, sp);
    std::string type = sp == std::string::npos ? "" : rest.substr(sp + 1);
    if (name != family_) return Problem("TYPE of " + name + " not right after its HELP");
    if (!type_.empty() || samples_) return Problem("second TYPE of " + name);
    if (type != "counter" && type != "gauge" && type != "histogram")
      return Problem("type \"" + type + "\"");
    type_ = type;
  }

  void SampleLine(const Sample& s) {
    if (type_.empty()) return Problem(s.name + " before any HELP and TYPE of its family");
    ++samples_;
    std::string key = s.name;
    for (const auto& [n, v] : s.labels) key += "\n" + n + "=" + v;
    if (!series_.insert(key).second) Problem("series " + s.name + " twice");
    if (type_ != "histogram") {
      if (s.name != family_) return Problem(s.name + " in family " + family_);
      if (type_ == "counter" && s.value < 0) Problem("counter " + s.name + " below 0");
      return;
    }
    LabelList rest;
    std::optional<std::string> le;
    for (const auto& l : s.labels)
      if (l.first == "le")
        le = l.second;
      else
        rest.push_back(l);
    std::string group;
    for (const auto& [n, v] : rest) group += n + "=" + v + "\n";
    HistogramSeen& h = histograms_[group];
    if (s.name == family_ + "_bucket") {
      if (!le) return Problem(s.name + " without le");
      double bound = ParseValue(*le);
      if (std::string why = ValueProblem(*le, bound); !why.empty()) return Problem("le: " + why);
      if (!h.buckets.empty() && !(bound > h.buckets.back().le))
        Problem("le=\"" + *le + "\" not above the bucket before it");
      if (!h.buckets.empty() && s.value < h.buckets.back().count)
        Problem("bucket le=\"" + *le + "\" below the bucket before it");
      if (h.sum || h.count) Problem("bucket after _sum or _count");
      h.buckets.push_back({bound, s.value});
    } else if (le) {
      Problem(s.name + " with le");
    } else if (s.name == family_ + "_sum") {
      h.sum = s.value;
    } else if (s.name == family_ + "_count") {
      h.count = s.value;
    } else {
      Problem(s.name + " in histogram " + family_);
    }
  }

  void EndFamily() {
    if (family_.empty()) return;
    if (type_.empty()) Problem("family " + family_ + " has no TYPE");
    if (!samples_) Problem("family " + family_ + " has no sample");
    for (const auto& [group, h] : histograms_) {
      std::string what = family_ + "{" + group + "}";
      if (h.buckets.empty() || !std::isinf(h.buckets.back().le))
        Problem(what + " has no le=\"+Inf\" bucket");
      if (!h.sum || !h.count) Problem(what + " lacks _sum or _count");
      if (!h.buckets.empty() && h.count && h.buckets.back().count != *h.count)
        Problem(what + ": le=\"+Inf\" differs from _count");
    }
    histograms_.clear();
    family_.clear();
  }

  std::vector<std::string> problems_;
  int line_no_ = 0;
  std::set<std::string> families_, series_;
  std::string family_, type_;
  int samples_ = 0;
  std::map<std::string, HistogramSeen> histograms_;
};

std::vector<std::string> Check(std::string_view text) { return Reader().Read(text); }

// ---- The reader is strict -------------------------------------------------------------------

TEST(ExpositionReaderTest, FindsEachProblem) {
  const std::string kHead = "# HELP a_total A\n# TYPE a_total counter\n";
  const std::string kHist =
      "# HELP h H\n# TYPE h histogram\n"
      "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n";
  const std::pair<std::string, std::string> cases[] = {
      {kHead + "a_total 1", "line 3: the text does not end in a line feed"},
      {kHead + "a_total{path=\"a\"b\"} 1\n", "line 3: labels not closed"},
      {kHead + "a_total{path=\"a\\tb\"} 1\n", "line 3: escape \"\\t\" in a label value"},
      {kHead + "a_total{path=\"a\",path=\"b\"} 1\n", "line 3: label \"path\" twice"},
      {kHead + "a_total{a=\"1\",} 1\n", "line 3: trailing ',' in labels"},
      {kHead + "a_total{a=\"\xff\"} 1\n", "line 3: label value not UTF-8"},
      {kHead + "a_total 1e+01\n", "line 3: integer value written \"1e+01\""},
      {kHead + "a_total 3.0\n", "line 3: integer value written \"3.0\""},
      {kHead + "a_total 0.50\n", "line 3: value \"0.50\" is not the shortest that reads back"},
      {kHead + "a_total 0.10000000000000001x\n",
       "line 3: value \"0.10000000000000001x\" does not parse"},
      {kHead + "a_total inf\n", "line 3: value \"inf\" does not parse"},
      {kHead + "a_total 1 1700000000\n", "line 3: more than a value after the labels"},
      {kHead + "a_total -1\n", "line 3: counter a_total below 0"},
      {kHead + "b_total 1\n", "line 3: b_total in family a_total"},
      {kHead + "a_total 1\na_total 2\n", "line 4: series a_total twice"},
      {kHead + "a_total 1\n" + kHead + "a_total 2\n", "line 4: family a_total again"},
      {"a_total 1\n", "line 1: a_total before any HELP and TYPE of its family"},
      {"# TYPE a_total counter\na_total 1\n", "line 1: TYPE of a_total not right after its HELP"},
      {"# HELP a_total \n# TYPE a_total counter\na_total 1\n", "line 1: HELP of a_total is empty"},
      {"# HELP a_total A\n# TYPE a_total summary\n", "line 2: type \"summary\""},
      {"# HELP a_total A\n# TYPE a_total counter\n", "line 2: family a_total has no sample"},
      {kHead + "\n", "line 3: not a HELP, TYPE or sample line"},
      {"# HELP h H\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_sum 1\nh_count 1\n",
       "line 5: h{} has no le=\"+Inf\" bucket"},
      {"# HELP h H\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
       "h_sum 1\nh_count 2\n",
       "line 4: bucket le=\"+Inf\" below the bucket before it"},
      {"# HELP h H\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"0.1\"} 1\n"
       "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
       "line 4: le=\"0.1\" not above the bucket before it"},
      {"# HELP h H\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
       "line 5: h{}: le=\"+Inf\" differs from _count"},
      {"# HELP h H\n# TYPE h histogram\nh_bucket{le=\"0.10000000000000001\"} 2\n",
       "line 3: le: value \"0.10000000000000001\" is not the shortest that reads back"},
  };
  EXPECT_EQ(Check(kHead + "a_total{path=\"a\\\"b\\\\c\\nd\"} 1\n" + kHist),
            std::vector<std::string>{});
  for (const auto& [text, want] : cases) {
    std::vector<std::string> problems = Check(text);
    ASSERT_FALSE(problems.empty()) << text;
    EXPECT_EQ(problems[0], want) << text;
  }
}

// ---- Render's output ------------------------------------------------------------------------

// A registry with every kind of family: described and not, labels that need escapes, values
// that are not integers, infinite and NaN, a histogram with observations on and above bounds;
// and the process series.
void Fill(Metrics& m) {
  m.Describe("metastack_test_requests_total", "counter", "Requests, by path\\status\nand more");
  m.Add("metastack_test_requests_total", Labels({{"path", "/a\"b\\c\nd"}, {"status", "200"}}), 3);
  m.Add("metastack_test_requests_total",
        Labels({{"path", "/caf\xc3\xa9 \xff"}, {"status", "404"}}));
  m.Add("metastack_test_undescribed_total", "", 0.5);
  m.Describe("metastack_test_queue_depth", "gauge", "Requests waiting");
  m.SetGauge("metastack_test_queue_depth", Labels({{"queue", "a"}}), 1e6);
  m.SetGauge("metastack_test_queue_depth", Labels({{"queue", "b"}}), 0.1);
  m.SetGauge("metastack_test_queue_depth", Labels({{"queue", "c"}}), -3);
  m.Gauge("metastack_test_limit", Labels({{"kind", "upper"}}))
      .Set(std::numeric_limits<double>::infinity());
  m.Gauge("metastack_test_limit", Labels({{"kind", "lower"}}))
      .Set(-std::numeric_limits<double>::infinity());
  m.Gauge("metastack_test_limit", Labels({{"kind", "unknown"}})).Set(std::nan(""));
  m.Describe("metastack_test_request_seconds", "histogram", "Time to answer");
  for (double v : {0.0001, 0.0002, 0.1, 7.0})
    m.Observe("metastack_test_request_seconds", Labels({{"path", "ec2"}}), v);
  m.Observe("metastack_test_request_seconds", Labels({{"path", "\"quoted\""}}), 0.3);
  m.Observe("metastack_test_undescribed_seconds", "", 0.003);
}

TEST(ExpositionTest, TheWholeRenderReadsBackStrictly) {
  Metrics m;
  Fill(m);
  std::string text = m.Render();
  EXPECT_EQ(Check(text), std::vector<std::string>{}) << text;
  // The escapes and values as written.
  for (const char* want :
       {"# HELP metastack_test_requests_total Requests, by path\\\\status\\nand more\n",
        "metastack_test_requests_total{path=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 3\n",
        "metastack_test_queue_depth{queue=\"a\"} 1000000\n",
        "metastack_test_limit{kind=\"upper\"} +Inf\n",
        "metastack_test_limit{kind=\"lower\"} -Inf\n",
        "metastack_test_limit{kind=\"unknown\"} NaN\n",
        "# HELP metastack_test_undescribed_seconds (not described)\n"
        "# TYPE metastack_test_undescribed_seconds histogram\n",
        "\nprocess_open_fds ", "\nprocess_max_fds ", "\nprocess_cpu_seconds_total ",
        "\nprocess_start_time_seconds ", "\nmetastack_build_info{version=\""})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
}

// Renders taken while other threads observe still read back: +Inf equals _count, buckets
// never decrease.
TEST(ExpositionTest, RendersDuringUpdatesReadBackStrictly) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        m.Observe("h_seconds", "", (i % 20) * 0.001 * (t + 1));
        m.Add("c_total", "");
      }
    });
  for (int i = 0; i < 200; ++i) {
    std::string text = m.Render();
    ASSERT_EQ(Check(text), std::vector<std::string>{}) << text;
  }
  stop = true;
  for (auto& w : writers) w.join();
}

// ---- promtool ---------------------------------------------------------------------------------

constexpr const char* kPromtool = "/usr/bin/promtool";

struct PromtoolRun {
  int status;
  std::string output;
};
// `promtool check metrics` on `text`: its exit status and what it printed.
PromtoolRun Promtool(const std::string& text) {
  char path[] = "/tmp/metrics_exposition_test.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return {-1, "mkstemp failed"};
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  PromtoolRun run{-1, written ? "" : "write failed"};
  if (FILE* p =
          popen((std::string(kPromtool) + " check metrics < " + path + " 2>&1").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) run.output.append(buf, n);
    int status = pclose(p);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  unlink(path);
  return run;
}

TEST(ExpositionTest, PromtoolFindsNoProblem) {
  if (access(kPromtool, X_OK) != 0)
    GTEST_SKIP() << kPromtool << " is absent (Debian package prometheus; scripts/setup.sh)";
  // The harness sees promtool's complaints: a counter without _total and HELP, a bad label.
  PromtoolRun bad = Promtool("# TYPE requests counter\nrequests 1\n");
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output, "");
  EXPECT_NE(Promtool("# HELP a_total A\n# TYPE a_total counter\na_total{x=\"a\"b\"} 1\n").status,
            0);

  Metrics m;
  Fill(m);
  std::string text = m.Render();
  PromtoolRun run = Promtool(text);
  EXPECT_EQ(run.status, 0) << run.output << "\n" << text;
  EXPECT_EQ(run.output, "") << text;
}

}  // namespace
}  // namespace metastack::http
