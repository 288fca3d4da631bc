#include "http/metrics.h"

#include <charconv>

namespace metastack::http {
namespace {
// The shortest text that reads back as `v`, in %g form ("0.1", not "0.10000000000000001";
// "0.0001", not "1e-04"), as Prometheus' own clients write bucket bounds and values.
std::string Num(double v) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general).ptr;
  return std::string(buf, end);
}
// HELP text escapes backslash and line feed (the text exposition format).
std::string EscapeHelp(const std::string& help) {
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
}  // namespace

void Metrics::HistogramSeries::Observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(seconds, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Metrics::CounterSeries& Metrics::Counter(const std::string& name, const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = values_[name][labels];
  if (!slot) slot = std::make_unique<CounterSeries>();
  return *slot;
}

Metrics::HistogramSeries& Metrics::Histogram(const std::string& name, const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = histograms_[name][labels];
  if (!slot) slot = std::make_unique<HistogramSeries>();
  return *slot;
}

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  meta_[name] = {type, help};
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto header = [&](const std::string& name, const char* fallback_type) {
    auto it = meta_.find(name);
    if (it != meta_.end()) {
      out += "# HELP " + name + " " + EscapeHelp(it->second.second) + "\n";
      out += "# TYPE " + name + " " + it->second.first + "\n";
    } else {
      out += "# TYPE " + name + " " + fallback_type + "\n";
    }
  };
  for (const auto& [name, series] : values_) {
    header(name, "counter");
    for (const auto& [labels, v] : series)
      out += name + Braced(labels) + " " + Num(v->value()) + "\n";
  }
  for (const auto& [name, series] : histograms_) {
    header(name, "histogram");
    for (const auto& [labels, h] : series) {
      // Read the count first: a concurrent Observe then shows in the buckets no less than in
      // the count, so +Inf never falls below a finite bucket.
      uint64_t count = h->count_.load();
      for (size_t i = 0; i < kBounds.size(); ++i)
        out += name + "_bucket" + Braced(labels, "le=\"" + Num(kBounds[i]) + "\"") + " " +
               std::to_string(std::min(h->buckets_[i].load(), count)) + "\n";
      out += name + "_bucket" + Braced(labels, "le=\"+Inf\"") + " " + std::to_string(count) + "\n";
      out += name + "_sum" + Braced(labels) + " " + Num(h->sum_.load()) + "\n";
      out += name + "_count" + Braced(labels) + " " + std::to_string(count) + "\n";
    }
  }
  return out;
}

}  // namespace metastack::http
