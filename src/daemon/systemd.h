#pragma once
// Telling systemd what the daemon is doing (sd_notify(3)), for units of Type=notify
// (dist/systemd/): READY=1 once every listener is open, RELOADING=1 ... READY=1 around a SIGHUP
// reload, STOPPING=1 when the drain begins, each with a STATUS= line for `systemctl status`;
// and the watchdog: when the service manager asks for one (WatchdogSec=, which sets
// WATCHDOG_USEC, and WATCHDOG_PID to this process), WATCHDOG=1 every half interval
// (sd_watchdog_enabled(3)) from a timer on the io_context given, the one that accepts and
// handles signals, so that a loop that stops turning stops the pings and systemd restarts the
// process.
//
// Without NOTIFY_SOCKET (not started by systemd) every call does nothing and reports nothing;
// a notification that cannot be sent is logged once and otherwise ignored: the daemon serves
// either way. The environment is left as it is (children inherit it; NotifyAccess=main makes
// systemd ignore them).
//
// Not thread-safe: one owner calls it on the io_context's thread; the timer must not outlive
// the io_context (declare this after it).

#include <chrono>
#include <string>
#include <string_view>

#include "http/asio.h"

namespace metastack::daemon {

class ServiceNotifier {
 public:
  explicit ServiceNotifier(asio::io_context& ioc);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 with STATUS=`status` and MAINPID; the first call starts the watchdog pings.
  void Ready(std::string_view status);
  // RELOADING=1 with STATUS=`status`; Ready() must follow once the reload is done (or refused).
  void Reloading(std::string_view status);
  // STOPPING=1 with STATUS=`status`; the pings go on until StopWatchdog().
  void Stopping(std::string_view status);
  // Cancels the pings, so that the io_context can run out of work.
  void StopWatchdog();

  // The interval systemd expects pings within (0: no watchdog for this process).
  std::chrono::microseconds watchdog_timeout() const { return watchdog_; }

 private:
  void Send(const std::string& state);
  void Ping();

  asio::steady_timer timer_;
  std::chrono::microseconds watchdog_{0};
  bool pinging_ = false;
  bool warned_ = false;
};

}  // namespace metastack::daemon
