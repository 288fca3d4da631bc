// The API's instance cache (api::InstanceCache) under skewed loads: its hit ratio with CLOCK
// eviction against the arbitrary eviction it replaced (erase the unordered_map's begin(), which
// in libstdc++ is most often the entry inserted last) and against exact LRU, the reference CLOCK
// approximates; and the cost of a hit.
//
// Load: 1,000,000 instance ids, requested with Zipf probabilities (rank r has weight 1/r^s) for
// s = 1.0 and 0.8, ranks scattered over the ids; caches of 1 % and 10 % of the population. Each
// request is what MetadataApi::Load does: Get, and on a miss Put of a freshly loaded record.
// 2,000,000 requests warm the cache up, then 4,000,000 are counted. Counters: hit_ratio (of the
// counted requests), evictions_per_miss.
//
// Hit/<threads>: ns per Get of an instance the cache holds (100,000 held, uniform probes), on
// one and on two threads at once (the one mutex shared).
//
//   build/release/bench/cache_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/instance_cache.h"

namespace {

using namespace metastack;

constexpr int kPopulation = 1'000'000;
constexpr int kWarmup = 2'000'000;
constexpr int kCounted = 4'000'000;

std::string UuidOf(uint32_t id) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012u", id * 2654435761u, id);
  return buf;
}

store::InstanceRecord RecordOf(const std::string& uuid) {
  core::Instance inst;
  inst.uuid = uuid;
  inst.hostname = "vm";
  inst.name = "vm";
  return {std::move(inst), 1};
}

struct Rng {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  uint64_t Next() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  }
  double Unit() { return double(Next() >> 11) * 0x1.0p-53; }
};

// Ids by Zipf(s) over kPopulation ranks: the CDF, searched; rank r maps to id (r * a) mod n, a
// coprime to n, so hot ids are spread over the id space (and over hash buckets).
class Zipf {
 public:
  explicit Zipf(double s) : cdf_(kPopulation) {
    double sum = 0;
    for (int r = 0; r < kPopulation; ++r) cdf_[r] = sum += 1.0 / std::pow(r + 1, s);
    for (double& c : cdf_) c /= sum;
  }
  uint32_t Next(Rng& rng) const {
    auto rank = std::lower_bound(cdf_.begin(), cdf_.end(), rng.Unit()) - cdf_.begin();
    return static_cast<uint32_t>((uint64_t(rank) * 999'983u) % kPopulation);
  }

 private:
  std::vector<double> cdf_;
};

const Zipf& ZipfFor(double s) {
  static const Zipf one(1.0), point_eight(0.8);
  return s == 1.0 ? one : point_eight;
}

// The eviction InstanceCache had before CLOCK, line for line: map_.erase(map_.begin()).
class ArbitraryCache {
 public:
  explicit ArbitraryCache(size_t max) : max_(max) {}
  std::shared_ptr<const api::CachedInstance> Get(const std::string& uuid) {
    auto it = map_.find(uuid);
    return it == map_.end() ? nullptr : it->second;
  }
  void Put(store::InstanceRecord record) {
    auto entry = std::make_shared<const api::CachedInstance>(std::move(record));
    if (map_.size() >= max_ && !map_.empty()) {
      map_.erase(map_.begin());
      evictions_++;
    }
    map_[entry->instance().uuid] = entry;
  }
  uint64_t evictions() const { return evictions_; }

 private:
  size_t max_;
  std::unordered_map<std::string, std::shared_ptr<const api::CachedInstance>> map_;
  uint64_t evictions_ = 0;
};

// Exact LRU: the reference (a list splice per hit; not what a shared cache should pay).
class LruCache {
 public:
  explicit LruCache(size_t max) : max_(max) {}
  std::shared_ptr<const api::CachedInstance> Get(const std::string& uuid) {
    auto it = map_.find(uuid);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return *it->second;
  }
  void Put(store::InstanceRecord record) {
    auto entry = std::make_shared<const api::CachedInstance>(std::move(record));
    if (map_.size() >= max_) {
      map_.erase(order_.back()->instance().uuid);
      order_.pop_back();
      evictions_++;
    }
    order_.push_front(entry);
    map_[entry->instance().uuid] = order_.begin();
  }
  uint64_t evictions() const { return evictions_; }

 private:
  size_t max_;
  std::list<std::shared_ptr<const api::CachedInstance>> order_;
  std::unordered_map<std::string, decltype(order_)::iterator> map_;
  uint64_t evictions_ = 0;
};

class ClockCache {
 public:
  explicit ClockCache(size_t max) : cache_(max) {}
  std::shared_ptr<const api::CachedInstance> Get(const std::string& uuid) {
    return cache_.Get(uuid);
  }
  void Put(store::InstanceRecord record) { cache_.Put(std::move(record), cache_.Epoch()); }
  uint64_t evictions() const { return cache_.evictions(); }

 private:
  api::InstanceCache cache_;
};

template <typename Cache>
void HitRatio(benchmark::State& state, double s, double fraction) {
  const Zipf& zipf = ZipfFor(s);
  for (auto _ : state) {
    Cache cache(static_cast<size_t>(kPopulation * fraction));
    Rng rng;
    uint64_t hits = 0, misses = 0, evictions_before = 0;
    for (int i = 0; i < kWarmup + kCounted; ++i) {
      if (i == kWarmup) evictions_before = cache.evictions();
      std::string uuid = UuidOf(zipf.Next(rng));
      bool hit = cache.Get(uuid) != nullptr;
      if (!hit) cache.Put(RecordOf(uuid));
      if (i >= kWarmup) (hit ? hits : misses)++;
    }
    state.counters["hit_ratio"] = double(hits) / double(hits + misses);
    state.counters["evictions_per_miss"] =
        misses ? double(cache.evictions() - evictions_before) / double(misses) : 0;
  }
}

void Hit(benchmark::State& state) {
  constexpr int kHeld = 100'000;
  static api::InstanceCache* cache = [] {
    auto* c = new api::InstanceCache(kHeld);
    for (int i = 0; i < kHeld; ++i) c->Put(RecordOf(UuidOf(i)), c->Epoch());
    return c;
  }();
  static const std::vector<std::string> uuids = [] {
    std::vector<std::string> v;
    for (int i = 0; i < kHeld; ++i) v.push_back(UuidOf(i));
    return v;
  }();
  Rng rng;
  rng.x += state.thread_index();
  for (auto _ : state) {
    auto got = cache->Get(uuids[rng.Next() % kHeld]);
    benchmark::DoNotOptimize(got);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (double s : {1.0, 0.8})
    for (double fraction : {0.01, 0.10}) {
      char suffix[64];
      std::snprintf(suffix, sizeof suffix, "/zipf%.1f/cache%d%%", s, int(fraction * 100 + 0.5));
      auto add = [&](const char* policy, void (*fn)(benchmark::State&, double, double)) {
        benchmark::RegisterBenchmark(
            (std::string("HitRatio/") + policy + suffix).c_str(),
            [fn, s, fraction](benchmark::State& st) { fn(st, s, fraction); })
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
      };
      add("arbitrary", HitRatio<ArbitraryCache>);
      add("clock", HitRatio<ClockCache>);
      add("lru", HitRatio<LruCache>);
    }
  benchmark::RegisterBenchmark("Hit", Hit)->Threads(1)->Threads(2)->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
