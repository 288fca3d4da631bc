#include "http/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

#include "base/log.h"
#include "base/utf8.h"
#include "base/version.h"
#include "http/process_metrics.h"

namespace metastack::http {
namespace {

constexpr std::string_view kComponent = "metrics";

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameChar(c) || c == ':'; });
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not reserved (a leading "__").
bool IsLabelName(std::string_view name) {
  return !name.empty() && IsNameStart(name[0]) && !name.starts_with("__") &&
         std::all_of(name.begin(), name.end(), IsNameChar);
}

// Whether `labels` is what Labels() writes: name="value" pairs joined by ",", each value
// escaped, no name twice, and "le" only outside histograms (whose buckets add it).
bool IsLabelSet(std::string_view labels, bool histogram) {
  if (labels.empty()) return true;
  if (!IsValidUtf8(labels)) return false;
  std::vector<std::string_view> names;
  size_t i = 0;
  while (true) {
    size_t eq = labels.find('=', i);
    if (eq == std::string_view::npos) return false;
    std::string_view name = labels.substr(i, eq - i);
    if (!IsLabelName(name) || (histogram && name == "le")) return false;
    if (std::find(names.begin(), names.end(), name) != names.end()) return false;
    names.push_back(name);
    i = eq + 1;
    if (i >= labels.size() || labels[i] != '"') return false;
    for (++i;; ++i) {
      if (i >= labels.size() || labels[i] == '\n') return false;
      if (labels[i] == '"') break;
      if (labels[i] == '\\') {
        if (++i >= labels.size()) return false;
        if (labels[i] != '\\' && labels[i] != '"' && labels[i] != 'n') return false;
      }
    }
    if (++i == labels.size()) return true;
    if (labels[i] != ',') return false;
    ++i;
  }
}

// HELP text escapes backslash and line feed.
std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string Braced(const std::string& labels, const std::string& extra = {}) {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? "" : "{" + all + "}";
}

const char* TypeName(int type) {
  static constexpr const char* kNames[] = {"counter", "gauge", "histogram"};
  return kNames[type];
}

}  // namespace

std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    for (size_t i = 0; i < value.size();) {
      size_t start = i;
      std::optional<char32_t> cp = NextCodePoint(value, i);
      if (!cp)
        AppendUtf8(out, kReplacementCharacter);
      else if (*cp == '\\')
        out += "\\\\";
      else if (*cp == '"')
        out += "\\\"";
      else if (*cp == '\n')
        out += "\\n";
      else
        out.append(value.substr(start, i - start));
    }
    out += '"';
  }
  return out;
}

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Up to 2^53 every integer is exact: digits, never "1e+06".
  if (std::fabs(v) <= 0x1p53 && v == std::trunc(v)) return std::to_string(static_cast<int64_t>(v));
  // Otherwise the fewest digits that read back, in %g's form (as Go's strconv 'g', -1, which
  // Prometheus uses): "0.1", "0.0001", "1e-05", "1.2345675e+06".
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general).ptr;
  return std::string(buf, end);
}

void Metrics::HistogramSeries::Observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(seconds, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Refusal(const std::string& name, const std::string& labels, Type type) const {
  bool histogram = type == Type::kHistogram;
  if (!IsMetricName(name)) return "\"" + name + "\" is no metric name";
  if (!IsLabelSet(labels, histogram))
    return name + ": {" + labels + "} is no label set" + (histogram ? " of a histogram" : "");
  auto f = families_.find(name);
  if (f != families_.end() && f->second.type && (*f->second.type == Type::kHistogram) != histogram)
    return name + " is " + (histogram ? "not a histogram" : "a histogram");
  return "";
}

Metrics::CounterSeries& Metrics::Scalar(const std::string& name, const std::string& labels,
                                        Type type) {
  std::lock_guard lock(mu_);
  if (auto f = families_.find(name); f != families_.end())
    if (auto s = f->second.scalars.find(labels); s != f->second.scalars.end()) return *s->second;
  if (std::string why = Refusal(name, labels, type); !why.empty()) {
    auto& slot = refused_scalars_[{name, labels}];
    if (!slot) {
      LogError(kComponent, "series refused, not rendered: " + why);
      slot = std::make_unique<CounterSeries>();
    }
    return *slot;
  }
  Family& f = families_[name];
  if (!f.type) f.type = type;
  auto& slot = f.scalars[labels];
  slot = std::make_unique<CounterSeries>();
  return *slot;
}

Metrics::CounterSeries& Metrics::Counter(const std::string& name, const std::string& labels) {
  return Scalar(name, labels, Type::kCounter);
}

Metrics::GaugeSeries& Metrics::Gauge(const std::string& name, const std::string& labels) {
  return Scalar(name, labels, Type::kGauge);
}

Metrics::HistogramSeries& Metrics::Histogram(const std::string& name, const std::string& labels) {
  std::lock_guard lock(mu_);
  if (auto f = families_.find(name); f != families_.end())
    if (auto s = f->second.histograms.find(labels); s != f->second.histograms.end())
      return *s->second;
  if (std::string why = Refusal(name, labels, Type::kHistogram); !why.empty()) {
    auto& slot = refused_histograms_[{name, labels}];
    if (!slot) {
      LogError(kComponent, "series refused, not rendered: " + why);
      slot = std::make_unique<HistogramSeries>();
    }
    return *slot;
  }
  Family& f = families_[name];
  f.type = Type::kHistogram;
  auto& slot = f.histograms[labels];
  slot = std::make_unique<HistogramSeries>();
  return *slot;
}

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  std::optional<Type> t = type == "counter"     ? Type::kCounter
                          : type == "gauge"     ? Type::kGauge
                          : type == "histogram" ? std::optional(Type::kHistogram)
                                                : std::nullopt;
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  if (!t) {
    LogError(kComponent, name + ": type \"" + type + "\" ignored: not counter, gauge or histogram");
    return;
  }
  if ((*t == Type::kHistogram && !f.scalars.empty()) ||
      (*t != Type::kHistogram && !f.histograms.empty())) {
    LogError(kComponent, name + ": type \"" + type + "\" ignored: the family is " +
                             TypeName(static_cast<int>(*f.type)));
    return;
  }
  f.type = *t;
}

void Metrics::RenderFamily(std::string& out, const std::string& name, const Family& family) {
  out += "# HELP " + name + " " +
         (family.help.empty() ? std::string("(not described)") : EscapeHelp(family.help)) + "\n";
  out += "# TYPE " + name + " " + TypeName(static_cast<int>(*family.type)) + "\n";
  for (const auto& [labels, v] : family.scalars)
    out += name + Braced(labels) + " " + FormatMetricValue(v->value()) + "\n";
  for (const auto& [labels, h] : family.histograms) {
    // Read the count first: a concurrent Observe then shows in the buckets no less than in
    // the count, so +Inf never falls below a finite bucket.
    uint64_t count = h->count_.load();
    for (size_t i = 0; i < kBounds.size(); ++i)
      out += name + "_bucket" + Braced(labels, "le=\"" + FormatMetricValue(kBounds[i]) + "\"") +
             " " + std::to_string(std::min(h->buckets_[i].load(), count)) + "\n";
    out += name + "_bucket" + Braced(labels, "le=\"+Inf\"") + " " + std::to_string(count) + "\n";
    out += name + "_sum" + Braced(labels) + " " + FormatMetricValue(h->sum_.load()) + "\n";
    out += name + "_count" + Braced(labels) + " " + std::to_string(count) + "\n";
  }
}

std::string Metrics::Render() const {
  // The process's own families, one series each, as the client libraries name and type them.
  std::map<std::string, Family> own;
  if (process_ == ProcessSeries::kInclude) {
    auto add = [&](const char* name, Type type, const char* help, std::optional<double> value,
                   const std::string& labels = "") {
      if (!value) return;
      Family& f = own[name];
      f.type = type;
      f.help = help;
      f.scalars[labels] = std::make_unique<CounterSeries>();
      f.scalars[labels]->Set(*value);
    };
    ProcessStats p = ReadProcessStats();
    add("process_cpu_seconds_total", Type::kCounter,
        "Total user and system CPU time spent in seconds.", p.cpu_seconds);
    add("process_resident_memory_bytes", Type::kGauge, "Resident memory size in bytes.",
        p.resident_bytes);
    add("process_virtual_memory_bytes", Type::kGauge, "Virtual memory size in bytes.",
        p.virtual_bytes);
    add("process_start_time_seconds", Type::kGauge,
        "Start time of the process since unix epoch in seconds.", p.start_time_seconds);
    add("process_open_fds", Type::kGauge, "Number of open file descriptors.", p.open_fds);
    add("process_max_fds", Type::kGauge, "Maximum number of open file descriptors.", p.max_fds);
    add("metastack_build_info", Type::kGauge,
        "A metric with a constant '1' value labeled by the version metastack was built from.", 1.0,
        Labels({{"version", Version()}}));
  }

  std::lock_guard lock(mu_);
  std::vector<std::pair<const std::string*, const Family*>> all;
  for (const auto& [name, f] : families_)
    if (!f.scalars.empty() || !f.histograms.empty()) all.emplace_back(&name, &f);
  for (const auto& [name, f] : own) {
    auto mine = families_.find(name);  // a family registered under the same name wins
    if (mine == families_.end() ||
        (mine->second.scalars.empty() && mine->second.histograms.empty()))
      all.emplace_back(&name, &f);
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  std::string out;
  for (const auto& [name, f] : all) RenderFamily(out, *name, *f);
  return out;
}

}  // namespace metastack::http
