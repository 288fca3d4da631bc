#pragma once
// A small Prometheus registry: counters and histograms with label sets, rendered in the text
// exposition format. Thread-safe; updates take one short mutex (cheap next to a request).

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace metastack::http {

class Metrics {
 public:
  // `labels` is the rendered label set, e.g. R"(status="200",path="openstack")".
  void Add(const std::string& name, const std::string& labels, double value = 1);
  void Set(const std::string& name, const std::string& labels, double value);
  void Observe(const std::string& name, const std::string& labels, double seconds);
  void Describe(const std::string& name, const std::string& type, const std::string& help);
  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts per kBounds entry
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> meta_;  // name -> (type, help)
  std::map<std::string, std::map<std::string, double>> values_;
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
};

}  // namespace metastack::http
