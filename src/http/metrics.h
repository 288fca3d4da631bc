#pragma once
// A small Prometheus registry: counters, gauges and histograms with label sets, rendered in the
// text exposition format (0.0.4). Thread-safe.
//
// Series are created on first use under one mutex and never move or disappear, so a hot path
// may look a series up once (Counter(), Gauge(), Histogram()) and then update it with atomic
// operations alone; Add(), Set() and Observe() are the lookup-and-update convenience for colder
// paths.
//
// A family's type is the one Describe() gives it, else the kind of call that created it:
// Counter(), Add() and Set() a counter, Gauge() and SetGauge() a gauge, Histogram() and
// Observe() a histogram. Render() writes every family that has a series once, contiguously,
// HELP and TYPE first (an undescribed family gets a placeholder HELP text).
//
// What Render() writes always parses: a series whose name is no metric name, whose labels are
// not a well-formed label set (see Labels()), or whose kind differs from its family's (a
// histogram series of a counter) is refused when first asked for. The refusal is logged once,
// and the caller gets a series of its own that is updated as usual and never rendered.
//
// Unless constructed with ProcessSeries::kOmit, Render() also writes the process series
// Prometheus' client libraries export (process_cpu_seconds_total, process_open_fds, ... read
// from procfs at each render; see process_metrics.h) and metastack_build_info{version="..."} 1,
// the version the build was configured with (metastack::Version()).

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace metastack::http {

// A rendered label set, each value escaped as the format requires (backslash, double quote and
// line feed become \\, \" and \n; a malformed UTF-8 sequence becomes U+FFFD):
// Labels({{"path", "ec2"}, {"status", "200"}}) is `path="ec2",status="200"`. Values may come
// from anywhere; names are written as given and must match [a-zA-Z_][a-zA-Z0-9_]*.
std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

// The shortest text that reads back as `v`, as Prometheus writes sample values and bucket
// bounds: "0.1", "0.00025", "1e-05"; integers up to 2^53 in digits ("3", "1000000"); "+Inf",
// "-Inf", "NaN".
std::string FormatMetricValue(double v);

class Metrics {
 public:
  // Upper bounds (seconds) of the histogram buckets.
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

  enum class ProcessSeries { kInclude, kOmit };
  explicit Metrics(ProcessSeries process = ProcessSeries::kInclude) : process_(process) {}
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A counter's or a gauge's value.
  class CounterSeries {
   public:
    void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
    void Set(double v) { value_.store(v, std::memory_order_relaxed); }
    double value() const { return value_.load(std::memory_order_relaxed); }

   private:
    std::atomic<double> value_{0};
  };
  using GaugeSeries = CounterSeries;

  class HistogramSeries {
   public:
    void Observe(double seconds);

   private:
    friend class Metrics;
    std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};  // cumulative
    std::atomic<uint64_t> count_{0};
    std::atomic<double> sum_{0};
  };

  // `labels` is a rendered label set, e.g. Labels({{"status", "200"}}), or "" for none. The
  // returned series lives as long as this registry.
  CounterSeries& Counter(const std::string& name, const std::string& labels);
  GaugeSeries& Gauge(const std::string& name, const std::string& labels);
  HistogramSeries& Histogram(const std::string& name, const std::string& labels);

  void Add(const std::string& name, const std::string& labels, double value = 1) {
    Counter(name, labels).Add(value);
  }
  // Sets a counter kept elsewhere (a cache's hit count) or, once described as one, a gauge.
  void Set(const std::string& name, const std::string& labels, double value) {
    Counter(name, labels).Set(value);
  }
  void SetGauge(const std::string& name, const std::string& labels, double value) {
    Gauge(name, labels).Set(value);
  }
  void Observe(const std::string& name, const std::string& labels, double seconds) {
    Histogram(name, labels).Observe(seconds);
  }
  // `type` is "counter", "gauge" or "histogram"; another type, or one of the other kind than
  // the family's series (histogram or not), is logged and ignored (the help is kept).
  void Describe(const std::string& name, const std::string& type, const std::string& help);

  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    std::optional<Type> type;  // set by Describe() or by the first series
    std::string help;
    std::map<std::string, std::unique_ptr<CounterSeries>> scalars;
    std::map<std::string, std::unique_ptr<HistogramSeries>> histograms;
  };
  // Why a series of this kind may not be created, or "" if it may. Called with mu_ held.
  std::string Refusal(const std::string& name, const std::string& labels, Type type) const;
  CounterSeries& Scalar(const std::string& name, const std::string& labels, Type type);
  static void RenderFamily(std::string& out, const std::string& name, const Family& family);

  const ProcessSeries process_;
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  // Refused series, by name and labels: updated, never rendered.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<CounterSeries>> refused_scalars_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<HistogramSeries>>
      refused_histograms_;
};

}  // namespace metastack::http
