// What the per-instance rate limiter costs a request: RateLimiter::Take() for one instance (the
// API bench's case: every request the same identity, the worst for contention), and spread over
// 10,000 and 100,000 instances (a hash-table miss in cache), on 1 and 2 threads.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "http/rate_limiter.h"

namespace {

using metastack::http::RateLimiter;

std::vector<std::string> Identities(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i)
    ids.push_back("b65cee2f-8c69-4aeb-be2f-" + std::to_string(100000000000 + i));
  return ids;
}

// High enough that every Take() is allowed: what is measured is the bookkeeping.
RateLimiter& Limiter() {
  static RateLimiter limiter({1e9, 1e9, 200'000});
  return limiter;
}

void BM_TakeOneInstance(benchmark::State& state) {
  static const auto ids = Identities(1);
  for (auto _ : state) benchmark::DoNotOptimize(Limiter().Take(ids[0]));
}
BENCHMARK(BM_TakeOneInstance)->Threads(1)->Threads(2)->UseRealTime();

void BM_TakeManyInstances(benchmark::State& state) {
  static const auto ids = Identities(100'000);
  size_t n = static_cast<size_t>(state.range(0));
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) benchmark::DoNotOptimize(Limiter().Take(ids[i++ % n]));
}
BENCHMARK(BM_TakeManyInstances)->Arg(10'000)->Arg(100'000)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
