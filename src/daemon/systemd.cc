#include "daemon/systemd.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "base/log.h"

namespace metastack::daemon {

ServiceNotifier::ServiceNotifier(asio::io_context& ioc) : timer_(ioc) {
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is unset or names this process.
  int r = sd_watchdog_enabled(0, &usec);
  if (r > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
  } else if (r < 0) {
    LogWarning("main", std::string("systemd watchdog: WATCHDOG_USEC/WATCHDOG_PID unreadable (") +
                           std::strerror(-r) + "); no pings");
  }
}

void ServiceNotifier::Send(const std::string& state) {
  // 0: NOTIFY_SOCKET is not set (not run by systemd), nothing to do.
  int r = sd_notify(0, state.c_str());
  if (r < 0 && !warned_) {
    warned_ = true;
    LogWarning("main",
               std::string("systemd notification not sent (NOTIFY_SOCKET): ") + std::strerror(-r));
  }
}

void ServiceNotifier::Ready(std::string_view status) {
  Send("READY=1\nSTATUS=" + std::string(status) + "\nMAINPID=" + std::to_string(getpid()));
  if (watchdog_.count() > 0 && !pinging_) {
    pinging_ = true;
    LogInfo("main", "systemd watchdog: a ping every " +
                        std::to_string(watchdog_.count() / 2 / 1000) + " ms");
    Ping();
  }
}

void ServiceNotifier::Reloading(std::string_view status) {
  Send("RELOADING=1\nSTATUS=" + std::string(status));
}

void ServiceNotifier::Stopping(std::string_view status) {
  Send("STOPPING=1\nSTATUS=" + std::string(status));
}

void ServiceNotifier::StopWatchdog() {
  pinging_ = false;
  timer_.cancel();
}

void ServiceNotifier::Ping() {
  if (!pinging_) return;
  Send("WATCHDOG=1");
  timer_.expires_after(watchdog_ / 2);
  timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) Ping();
  });
}

}  // namespace metastack::daemon
