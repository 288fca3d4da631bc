#include "http/metrics.h"

#include <array>
#include <cstdio>

namespace metastack::http {
namespace {
constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                            0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
std::string Braced(const std::string& labels, const std::string& extra = {}) {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? "" : "{" + all + "}";
}
}  // namespace

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  meta_[name] = {type, help};
}

void Metrics::Add(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(mu_);
  values_[name][labels] += value;
}

void Metrics::Set(const std::string& name, const std::string& labels, double value) {
  std::lock_guard lock(mu_);
  values_[name][labels] = value;
}

void Metrics::Observe(const std::string& name, const std::string& labels, double seconds) {
  std::lock_guard lock(mu_);
  Histogram& h = histograms_[name][labels];
  if (h.buckets.empty()) h.buckets.assign(kBounds.size(), 0);
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) h.buckets[i]++;
  h.count++;
  h.sum += seconds;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto header = [&](const std::string& name, const char* fallback_type) {
    auto it = meta_.find(name);
    if (it != meta_.end()) {
      out += "# HELP " + name + " " + it->second.second + "\n";
      out += "# TYPE " + name + " " + it->second.first + "\n";
    } else {
      out += "# TYPE " + name + " " + fallback_type + "\n";
    }
  };
  for (const auto& [name, series] : values_) {
    header(name, "counter");
    for (const auto& [labels, v] : series) out += name + Braced(labels) + " " + Num(v) + "\n";
  }
  for (const auto& [name, series] : histograms_) {
    header(name, "histogram");
    for (const auto& [labels, h] : series) {
      for (size_t i = 0; i < kBounds.size(); ++i)
        out += name + "_bucket" + Braced(labels, "le=\"" + Num(kBounds[i]) + "\"") + " " +
               std::to_string(h.buckets[i]) + "\n";
      out += name + "_bucket" + Braced(labels, "le=\"+Inf\"") + " " + std::to_string(h.count) + "\n";
      out += name + "_sum" + Braced(labels) + " " + Num(h.sum) + "\n";
      out += name + "_count" + Braced(labels) + " " + std::to_string(h.count) + "\n";
    }
  }
  return out;
}

}  // namespace metastack::http
