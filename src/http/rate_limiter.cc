#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace metastack::http {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// A full shard looks for idle buckets at most this often (a shard full of busy buckets would
// otherwise be scanned on every new identity).
constexpr int64_t kFullSweepNs = kSecondNs / 10;

}  // namespace

RateLimiter::RateLimiter(RateLimit limit, Clock clock) : limit_(limit), clock_(std::move(clock)) {
  limit_.burst = std::max(limit_.burst, 1.0);
  per_shard_ = std::max<size_t>(1, (limit_.max_identities + kShards - 1) / kShards);
  double refill = limit_.rate > 0 ? limit_.burst / limit_.rate * kSecondNs : 0;
  refill_ns_ = static_cast<int64_t>(std::min(refill, 86'400.0 * kSecondNs));
}

int64_t RateLimiter::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_().time_since_epoch()).count();
}

double RateLimiter::Refilled(const Bucket& b, int64_t now_ns) const {
  double elapsed = static_cast<double>(std::max<int64_t>(0, now_ns - b.updated_ns)) / kSecondNs;
  return std::min(limit_.burst, b.tokens + elapsed * limit_.rate);
}

void RateLimiter::Sweep(Shard& shard, int64_t now_ns) {
  shard.swept_ns = now_ns;
  std::erase_if(shard.buckets,
                [&](const auto& entry) { return Refilled(entry.second, now_ns) >= limit_.burst; });
}

RateLimiter::Decision RateLimiter::Take(std::string_view identity) {
  if (!enabled()) return {};
  int64_t now = Now();
  Shard& shard = shards_[Hash{}(identity) % kShards];
  std::lock_guard lock(shard.mu);
  if (now - shard.swept_ns >= refill_ns_) Sweep(shard, now);
  auto it = shard.buckets.find(identity);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= per_shard_ &&
        now - shard.swept_ns >= std::min(refill_ns_, kFullSweepNs))
      Sweep(shard, now);
    if (shard.buckets.size() >= per_shard_) {
      untracked_.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    shard.buckets.emplace(std::string(identity), Bucket{limit_.burst - 1, now});
    return {};
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now);
  b.updated_ns = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return {};
  }
  double wait = std::ceil((1 - b.tokens) / limit_.rate);
  return {false, std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(wait)))};
}

void RateLimiter::ExpireIdle() {
  int64_t now = Now();
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    Sweep(shard, now);
  }
}

size_t RateLimiter::tracked() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace metastack::http
