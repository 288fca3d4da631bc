#include "base/failure_log.h"

#include <algorithm>

namespace metastack {

FailureLog::FailureLog(std::string component, std::string subject,
                       std::chrono::milliseconds interval, Sink sink, Now now)
    : component_(std::move(component)),
      subject_(std::move(subject)),
      interval_(interval),
      sink_(std::move(sink)),
      now_(std::move(now)) {
  if (!sink_)
    sink_ = [this](LogLevel level, std::string_view line) { Log(level, component_, line); };
  if (!now_) now_ = [] { return Clock::now(); };
}

std::string FailureLog::Summary(Clock::time_point now) const {
  if (unlogged_ == 0) return "";
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - last_line_).count();
  return " (" + std::to_string(unlogged_) + " more failure" + (unlogged_ == 1 ? "" : "s") +
         " in the last " + std::to_string(std::max<int64_t>(seconds, 1)) + " s)";
}

void FailureLog::Failure(std::string_view detail) {
  std::string line;
  {
    std::lock_guard lock(mu_);
    Clock::time_point now = now_();
    if (failing_.load(std::memory_order_relaxed) && now - last_line_ < interval_) {
      unlogged_++;
      return;
    }
    line = subject_ + ": " + std::string(detail) + Summary(now);
    failing_.store(true, std::memory_order_relaxed);
    last_line_ = now;
    unlogged_ = 0;
  }
  sink_(LogLevel::kError, line);
}

void FailureLog::Success() {
  if (!failing_.load(std::memory_order_relaxed)) return;
  std::string line;
  {
    std::lock_guard lock(mu_);
    if (!failing_.load(std::memory_order_relaxed)) return;
    line = subject_ + ": answering again" + Summary(now_());
    failing_.store(false, std::memory_order_relaxed);
    unlogged_ = 0;
  }
  sink_(LogLevel::kInfo, line);
}

}  // namespace metastack
