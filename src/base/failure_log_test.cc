// FailureLog: one line for the first failure, then at most one per interval with the count,
// and one when it recovers; a fake clock and a capturing sink.
#include "base/failure_log.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace metastack {
namespace {

using namespace std::chrono_literals;

struct Captured {
  std::vector<std::string> lines;
  FailureLog::Clock::time_point now{};
  FailureLog Make() {
    return FailureLog(
        "agent", "metadata API http://127.0.0.1:8775", 10s,
        [this](LogLevel level, std::string_view line) {
          lines.push_back(std::string(level == LogLevel::kError ? "E " : "I ") + std::string(line));
        },
        [this] { return now; });
  }
};

TEST(FailureLogTest, FirstFailureThenOneSummaryPerInterval) {
  Captured c;
  FailureLog log = c.Make();
  log.Success();  // nothing failed: nothing to say
  for (int i = 0; i < 1000; ++i) log.Failure("Connection refused");
  c.now += 9s;
  log.Failure("Connection refused");
  ASSERT_EQ(c.lines,
            std::vector<std::string>{"E metadata API http://127.0.0.1:8775: Connection refused"});
  c.now += 3s;
  log.Failure("no answer within the response timeout");
  c.now += 2s;
  log.Failure("Connection refused");
  log.Failure("Connection refused");
  log.Success();
  log.Success();
  EXPECT_EQ(c.lines, (std::vector<std::string>{
                         "E metadata API http://127.0.0.1:8775: Connection refused",
                         "E metadata API http://127.0.0.1:8775: no answer within the response "
                         "timeout (1000 more failures in the last 12 s)",
                         "I metadata API http://127.0.0.1:8775: answering again (2 more failures "
                         "in the last 2 s)"}));
}

TEST(FailureLogTest, RecoveryWithoutSuppressedFailuresAndANewOutage) {
  Captured c;
  FailureLog log = c.Make();
  log.Failure("Connection refused");
  log.Success();
  c.now += 1s;
  log.Failure("Connection refused");  // a new outage is reported at once
  EXPECT_EQ(c.lines,
            (std::vector<std::string>{"E metadata API http://127.0.0.1:8775: Connection refused",
                                      "I metadata API http://127.0.0.1:8775: answering again",
                                      "E metadata API http://127.0.0.1:8775: Connection refused"}));
}

TEST(FailureLogTest, ManyThreadsFailingLogOnce) {
  Captured c;
  FailureLog log = c.Make();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) log.Failure("Connection refused");
    });
  for (auto& t : threads) t.join();
  log.Success();
  EXPECT_EQ(c.lines, (std::vector<std::string>{
                         "E metadata API http://127.0.0.1:8775: Connection refused",
                         "I metadata API http://127.0.0.1:8775: answering again (7999 more "
                         "failures in the last 1 s)"}));
}

}  // namespace
}  // namespace metastack
