#pragma once
// Logging for a failure that repeats on every request while it lasts (an upstream down, a
// store unreachable): the first failure is logged at once, later ones are counted and logged
// at most once per interval with the count, and the first success after failures says so.
//
//   ERROR agent: metadata API http://127.0.0.1:8775: Connection refused
//   ERROR agent: metadata API http://127.0.0.1:8775: Connection refused (1234 more failures in
//                the last 10 s)
//   INFO  agent: metadata API http://127.0.0.1:8775: answering again (56 more failures in the
//                last 3 s)
//
// Thread-safe. Success() on the request path costs one relaxed atomic load while nothing fails.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "base/log.h"

namespace metastack {

class FailureLog {
 public:
  using Clock = std::chrono::steady_clock;
  // Where lines go (default: Log(level, component, line)) and what time it is (tests fake both).
  using Sink = std::function<void(LogLevel, std::string_view line)>;
  using Now = std::function<Clock::time_point()>;

  // `subject` starts every line ("metadata API http://127.0.0.1:8775").
  FailureLog(std::string component, std::string subject,
             std::chrono::milliseconds interval = std::chrono::seconds(10), Sink sink = {},
             Now now = {});

  // One failure; `detail` ("Connection refused") follows the subject.
  void Failure(std::string_view detail);
  // One success; logs the recovery once after failures, else does nothing.
  void Success();

 private:
  std::string Summary(Clock::time_point now) const;  // " (N more failures in the last S s)"

  std::string component_;
  std::string subject_;
  std::chrono::milliseconds interval_;
  Sink sink_;
  Now now_;
  std::atomic<bool> failing_{false};
  std::mutex mu_;
  Clock::time_point last_line_{};
  uint64_t unlogged_ = 0;  // failures since the last line
};

}  // namespace metastack
