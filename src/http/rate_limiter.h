#pragma once
// Token buckets keyed by an identity (an instance's uuid): `rate` tokens a second refill a bucket
// of `burst` tokens; each request takes one, and a request that finds less than one token is
// refused, told how many whole seconds (>= 1) until a token is back.
//
// Memory is bounded: a bucket that has refilled to full is indistinguishable from no bucket, so
// such idle buckets are dropped (each shard sweeps itself at most once per refill time, burst /
// rate, and whenever it is full); at most `max_identities` buckets exist at once. An identity
// that arrives while every slot holds a bucket still in use is admitted without a bucket (and
// counted in untracked()): refusing it would let a flood of identities deny a legitimate one.
//
// Pure and clock-injected: the clock is a function returning monotonic time, so tests step it.
// Thread-safe and lock-light: identities hash onto shards, each with its own mutex held for one
// hash-table lookup and a few arithmetic operations.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace metastack::http {

struct RateLimit {
  double rate = 20;    // tokens per second; 0 disables the limiter (every request allowed)
  double burst = 200;  // bucket size: requests allowed at once after a quiet period
  size_t max_identities = 100'000;
};

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Decision {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // >= 1s when refused
  };

  explicit RateLimiter(RateLimit limit, Clock clock = std::chrono::steady_clock::now);

  Decision Take(std::string_view identity);
  // Drops every idle bucket now (Take() does it as it goes; this is for a timer or a test).
  void ExpireIdle();

  bool enabled() const { return limit_.rate > 0; }
  const RateLimit& limit() const { return limit_; }
  size_t tracked() const;  // buckets held now
  uint64_t untracked() const { return untracked_.load(std::memory_order_relaxed); }

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ns;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> buckets;
    int64_t swept_ns = 0;
  };
  static constexpr size_t kShards = 16;

  int64_t Now() const;
  double Refilled(const Bucket& b, int64_t now_ns) const;
  void Sweep(Shard& shard, int64_t now_ns);

  RateLimit limit_;
  Clock clock_;
  size_t per_shard_;
  int64_t refill_ns_;  // time for an empty bucket to fill: burst / rate
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> untracked_{0};
};

}  // namespace metastack::http
