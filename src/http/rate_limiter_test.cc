#include "http/rate_limiter.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace metastack::http {
namespace {

using namespace std::chrono_literals;

// A clock the test steps by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  RateLimiter::Clock Fn() {
    return [this] { return now; };
  }
};

struct Step {
  std::chrono::milliseconds advance;  // before this request
  const char* identity;
  bool allowed;
  int retry_after;  // seconds, when refused
};

struct Case {
  const char* name;
  RateLimit limit;
  std::vector<Step> steps;
};

const Case kCases[] = {
    {"BurstThenRefusedUntilRefill",
     {1, 3},
     {{0ms, "a", true, 0},
      {0ms, "a", true, 0},
      {0ms, "a", true, 0},
      {0ms, "a", false, 1},
      {999ms, "a", false, 1},
      {1ms, "a", true, 0},
      {0ms, "a", false, 1}}},
    {"RetryAfterCountsWholeSecondsUntilOneToken",
     {0.1, 1},
     {{0ms, "a", true, 0},
      {0ms, "a", false, 10},
      {5s, "a", false, 5},
      {4500ms, "a", false, 1},
      {500ms, "a", true, 0}}},
    {"RetryAfterIsAtLeastOneSecond",
     {50, 1},
     {{0ms, "a", true, 0}, {0ms, "a", false, 1}, {20ms, "a", true, 0}}},
    {"IdentitiesHaveTheirOwnBuckets",
     {1, 1},
     {{0ms, "a", true, 0}, {0ms, "a", false, 1}, {0ms, "b", true, 0}, {0ms, "b", false, 1}}},
    {"RefillStopsAtTheBurst",
     {10, 2},
     {{0ms, "a", true, 0}, {100s, "a", true, 0}, {0ms, "a", true, 0}, {0ms, "a", false, 1}}},
    {"RefusedRequestsTakeNoToken",
     {1, 1},
     {{0ms, "a", true, 0}, {0ms, "a", false, 1}, {0ms, "a", false, 1}, {1s, "a", true, 0}}},
    {"ZeroRateDisables",
     {0, 1},
     {{0ms, "a", true, 0}, {0ms, "a", true, 0}, {0ms, "a", true, 0}, {0ms, "a", true, 0}}},
};

class RateLimiterCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(RateLimiterCaseTest, Steps) {
  FakeClock clock;
  RateLimiter limiter(GetParam().limit, clock.Fn());
  int i = 0;
  for (const auto& step : GetParam().steps) {
    clock.now += step.advance;
    auto d = limiter.Take(step.identity);
    EXPECT_EQ(d.allowed, step.allowed) << "step " << i;
    EXPECT_EQ(d.retry_after, std::chrono::seconds(step.retry_after)) << "step " << i;
    ++i;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, RateLimiterCaseTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RateLimiterTest, IdleBucketsExpireAndBusyOnesStay) {
  FakeClock clock;
  RateLimiter limiter({1, 10}, clock.Fn());
  for (int i = 0; i < 100; ++i) limiter.Take("idle-" + std::to_string(i));
  for (int i = 0; i < 10; ++i) limiter.Take("busy");
  EXPECT_EQ(limiter.tracked(), 101u);
  clock.now += 9s;  // the idle buckets are full again; "busy" holds 9 of 10
  limiter.ExpireIdle();
  EXPECT_EQ(limiter.tracked(), 1u);
  EXPECT_TRUE(limiter.Take("busy").allowed);
  clock.now += 10s;
  // Requests sweep their shard as they go, once per refill time: the full bucket is dropped
  // and this request starts a new one.
  EXPECT_TRUE(limiter.Take("busy").allowed);
  EXPECT_EQ(limiter.tracked(), 1u);
}

TEST(RateLimiterTest, TrackedIdentitiesAreCappedAndTheRestAdmitted) {
  FakeClock clock;
  RateLimiter limiter({1, 5, 64}, clock.Fn());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Take("vm-" + std::to_string(i)).allowed);
  EXPECT_LE(limiter.tracked(), 64u);
  EXPECT_GE(limiter.untracked(), 1000u - 64u);
  uint64_t untracked = limiter.untracked();
  clock.now += 5s;  // all idle now: new identities get buckets again
  for (int i = 0; i < 10; ++i) limiter.Take("new-" + std::to_string(i));
  EXPECT_EQ(limiter.untracked(), untracked);
  EXPECT_LE(limiter.tracked(), 64u);
}

TEST(RateLimiterTest, ConcurrentTakersShareOneBucketExactly) {
  FakeClock clock;  // never advances: exactly `burst` requests may pass, whatever the threads
  RateLimiter limiter({1, 1000}, clock.Fn());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (limiter.Take("shared").allowed) allowed++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

}  // namespace
}  // namespace metastack::http
