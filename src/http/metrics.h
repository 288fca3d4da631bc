#pragma once
// A small Prometheus registry: counters and histograms with label sets, rendered in the text
// exposition format. Thread-safe.
//
// Series are created on first use under one mutex and never move or disappear, so a hot path
// may look a series up once (Counter(), Histogram()) and then update it with atomic operations
// alone; Add() and Observe() are the lookup-and-update convenience for colder paths.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace metastack::http {

class Metrics {
 public:
  // Upper bounds (seconds) of the histogram buckets.
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

  class CounterSeries {
   public:
    void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
    void Set(double v) { value_.store(v, std::memory_order_relaxed); }
    double value() const { return value_.load(std::memory_order_relaxed); }

   private:
    std::atomic<double> value_{0};
  };

  class HistogramSeries {
   public:
    void Observe(double seconds);

   private:
    friend class Metrics;
    std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};  // cumulative
    std::atomic<uint64_t> count_{0};
    std::atomic<double> sum_{0};
  };

  // `labels` is the rendered label set, e.g. R"(status="200",path="openstack")". The returned
  // series lives as long as this registry.
  CounterSeries& Counter(const std::string& name, const std::string& labels);
  HistogramSeries& Histogram(const std::string& name, const std::string& labels);

  void Add(const std::string& name, const std::string& labels, double value = 1) {
    Counter(name, labels).Add(value);
  }
  void Set(const std::string& name, const std::string& labels, double value) {
    Counter(name, labels).Set(value);
  }
  void Observe(const std::string& name, const std::string& labels, double seconds) {
    Histogram(name, labels).Observe(seconds);
  }
  void Describe(const std::string& name, const std::string& type, const std::string& help);
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> meta_;  // name -> (type, help)
  std::map<std::string, std::map<std::string, std::unique_ptr<CounterSeries>>> values_;
  std::map<std::string, std::map<std::string, std::unique_ptr<HistogramSeries>>> histograms_;
};

}  // namespace metastack::http
