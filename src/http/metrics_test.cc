// Metrics::Render's exact text: what a Prometheus scraper parses.
#include "http/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "base/version.h"

namespace metastack::http {
namespace {

TEST(MetricsTest, CountersAndGaugesWithAndWithoutLabels) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  m.Describe("requests_total", "counter", "Requests answered");
  m.Describe("open_connections", "gauge", "Connections open now");
  m.Add("requests_total", R"(path="openstack",status="200")", 3);
  m.Add("requests_total", R"(path="ec2",status="404")");
  m.Set("open_connections", "", 7);
  m.Set("open_connections", "", 5);
  m.Add("undescribed_total", "", 0.5);
  EXPECT_EQ(m.Render(),
            "# HELP open_connections Connections open now\n"
            "# TYPE open_connections gauge\n"
            "open_connections 5\n"
            "# HELP requests_total Requests answered\n"
            "# TYPE requests_total counter\n"
            "requests_total{path=\"ec2\",status=\"404\"} 1\n"
            "requests_total{path=\"openstack\",status=\"200\"} 3\n"
            "# HELP undescribed_total (not described)\n"
            "# TYPE undescribed_total counter\n"
            "undescribed_total 0.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndInInf) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  m.Describe("request_seconds", "histogram", "Time to answer");
  auto& h = m.Histogram("request_seconds", R"(path="ec2")");
  h.Observe(0.0002);                         // in every bucket from le="0.00025" up
  h.Observe(0.03);                           // from le="0.05"
  h.Observe(7);                              // above every bound: only +Inf
  m.Observe("request_seconds", "", 0.0001);  // on a bound: counted in it
  EXPECT_EQ(m.Render(),
            "# HELP request_seconds Time to answer\n"
            "# TYPE request_seconds histogram\n"
            "request_seconds_bucket{le=\"0.0001\"} 1\n"
            "request_seconds_bucket{le=\"0.00025\"} 1\n"
            "request_seconds_bucket{le=\"0.0005\"} 1\n"
            "request_seconds_bucket{le=\"0.001\"} 1\n"
            "request_seconds_bucket{le=\"0.0025\"} 1\n"
            "request_seconds_bucket{le=\"0.005\"} 1\n"
            "request_seconds_bucket{le=\"0.01\"} 1\n"
            "request_seconds_bucket{le=\"0.025\"} 1\n"
            "request_seconds_bucket{le=\"0.05\"} 1\n"
            "request_seconds_bucket{le=\"0.1\"} 1\n"
            "request_seconds_bucket{le=\"0.5\"} 1\n"
            "request_seconds_bucket{le=\"2.5\"} 1\n"
            "request_seconds_bucket{le=\"+Inf\"} 1\n"
            "request_seconds_sum 0.0001\n"
            "request_seconds_count 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.0001\"} 0\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.00025\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.0005\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.001\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.0025\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.005\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.01\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.025\"} 1\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.05\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.1\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"0.5\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"2.5\"} 2\n"
            "request_seconds_bucket{path=\"ec2\",le=\"+Inf\"} 3\n"
            "request_seconds_sum{path=\"ec2\"} 7.0302\n"
            "request_seconds_count{path=\"ec2\"} 3\n");
}

TEST(MetricsTest, HelpEscapesBackslashAndLineFeed) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  m.Describe("x_total", "counter", "C:\\dir\nsecond line");
  m.Add("x_total", "");
  EXPECT_EQ(m.Render(),
            "# HELP x_total C:\\\\dir\\nsecond line\n"
            "# TYPE x_total counter\n"
            "x_total 1\n");
}

TEST(MetricsTest, AnEmptyRegistryRendersNothing) {
  EXPECT_EQ(Metrics(Metrics::ProcessSeries::kOmit).Render(), "");
}

TEST(MetricsTest, LabelsEscapeValues) {
  EXPECT_EQ(Labels({}), "");
  EXPECT_EQ(Labels({{"path", "ec2"}, {"status", "200"}}), R"(path="ec2",status="200")");
  EXPECT_EQ(Labels({{"path", "/a\"b\\c\nd e"}}), R"(path="/a\"b\\c\nd e")");
  // Label values are UTF-8: a malformed byte becomes U+FFFD, a well-formed character stays.
  EXPECT_EQ(Labels({{"v", "caf\xc3\xa9 \xff"}}), "v=\"caf\xc3\xa9 \xef\xbf\xbd\"");
}

TEST(MetricsTest, ValuesAreWrittenAsPrometheusWritesThem) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::pair<double, const char*> cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {3, "3"},
      {-2, "-2"},
      {10, "10"},
      {1e6, "1000000"},
      {9007199254740992, "9007199254740992"},  // 2^53
      {1e20, "1e+20"},
      {0.1, "0.1"},
      {0.00025, "0.00025"},
      {0.0001, "0.0001"},
      {0.00001, "1e-05"},
      {2.5, "2.5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1234567.5, "1.2345675e+06"},  // %g's choice, as Go's strconv writes it
      {kInf, "+Inf"},
      {-kInf, "-Inf"},
      {std::nan(""), "NaN"},
  };
  for (const auto& [v, want] : cases) EXPECT_EQ(FormatMetricValue(v), want) << v;
}

TEST(MetricsTest, EveryFamilyHasHelpAndTypeAndIsWrittenOnce) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  m.Observe("b_seconds", Labels({{"op", "get"}}), 1);
  m.SetGauge("c_bytes", "", 1e6);
  m.Add("a_total", Labels({{"x", "2"}}));
  m.Add("a_total", Labels({{"x", "1"}}));
  m.Describe("c_bytes", "gauge", "Bytes");
  std::string text = m.Render();
  EXPECT_EQ(text.substr(0, text.find("b_seconds_bucket")),
            "# HELP a_total (not described)\n"
            "# TYPE a_total counter\n"
            "a_total{x=\"1\"} 1\n"
            "a_total{x=\"2\"} 1\n"
            "# HELP b_seconds (not described)\n"
            "# TYPE b_seconds histogram\n");
  EXPECT_TRUE(
      text.ends_with("b_seconds_count{op=\"get\"} 1\n"
                     "# HELP c_bytes Bytes\n"
                     "# TYPE c_bytes gauge\n"
                     "c_bytes 1000000\n"))
      << text;
}

// A malformed series would make Prometheus reject the whole scrape: it is refused instead, and
// its updates go nowhere.
TEST(MetricsTest, MalformedSeriesAreNotRendered) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  m.Describe("h_seconds", "histogram", "Latency");
  m.Add("ok_total", "");
  const std::pair<const char*, const char*> counters[] = {
      {"0starts_with_a_digit", ""},
      {"has-dash_total", ""},
      {"", ""},
      {"q_total", R"(path="a"b")"},    // unescaped quote
      {"q_total", R"(path="a\tb")"},   // no such escape
      {"q_total", R"(path="a)"},       // unterminated
      {"q_total", R"(path=a)"},        // unquoted
      {"q_total", R"(a="1",a="2")"},   // a name twice
      {"q_total", R"(a="1",)"},        // trailing comma
      {"q_total", R"(__name__="x")"},  // reserved name
      {"q_total", "path=\"a\nb\""},    // raw line feed
      {"q_total", "path=\"\xff\""},    // not UTF-8
      {"h_seconds", ""},               // a histogram's name
  };
  for (const auto& [name, labels] : counters) {
    auto& c = m.Counter(name, labels);
    EXPECT_EQ(&c, &m.Counter(name, labels)) << name << labels;  // one series, refused once
    c.Add(1);
  }
  m.Observe("h_seconds", R"(le="1")", 0.5);  // le is the buckets' own label
  m.Observe("ok_total", "", 0.5);            // a counter's name
  m.Describe("ok_total", "histogram", "");   // ignored: ok_total has counter series
  m.Describe("ok_total", "summary", "");     // ignored: no such type here
  EXPECT_EQ(m.Render(),
            "# HELP ok_total (not described)\n"
            "# TYPE ok_total counter\n"
            "ok_total 1\n");
}

TEST(MetricsTest, ProcessSeriesAndBuildInfoAreRenderedByDefault) {
  Metrics m;
  m.Describe("process_open_fds", "gauge", "Ours");  // a registered family wins
  m.SetGauge("process_open_fds", "", 3);
  std::string text = m.Render();
  for (const char* family :
       {"# TYPE process_cpu_seconds_total counter\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_virtual_memory_bytes gauge\n", "# TYPE process_start_time_seconds gauge\n",
        "# TYPE process_max_fds gauge\n", "# TYPE metastack_build_info gauge\n",
        "# HELP process_open_fds Ours\n# TYPE process_open_fds gauge\nprocess_open_fds 3\n"})
    EXPECT_NE(text.find(family), std::string::npos) << family << text;
  EXPECT_NE(text.find("\nmetastack_build_info{version=\"" + std::string(Version()) + "\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("# TYPE process_open_fds"), text.rfind("# TYPE process_open_fds"));
}

// Series looked up once and updated from many threads lose no update.
TEST(MetricsTest, ConcurrentUpdatesAllCount) {
  Metrics m(Metrics::ProcessSeries::kOmit);
  auto& counter = m.Counter("c_total", "");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        counter.Add(1);
        m.Observe("h_seconds", "", 0.001);
      }
    });
  for (auto& t : threads) t.join();
  std::string text = m.Render();
  EXPECT_NE(text.find("\nc_total 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nh_seconds_bucket{le=\"0.001\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nh_seconds_count 40000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace metastack::http
