#include "daemon.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/file.h"
#include "base/log.h"

namespace metastack::cli {

std::string ReadSecretFile(const std::string& path, size_t min_length) {
  auto text = ReadFile(path);
  if (!text) throw std::runtime_error(text.error().ToString());
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.size() < min_length)
    throw std::runtime_error(
        path + (s.empty() ? ": is empty"
                          : ": must hold at least " + std::to_string(min_length) + " characters"));
  return s;
}

void LimitFlags::Declare(CLI::App& app) {
  app.add_option("--max-connections", max_connections, "Open connections in total")
      ->capture_default_str();
  app.add_option("--max-connections-per-listener", max_connections_per_listener,
                 "Open connections per guest-facing listener (each router or DHCP namespace the "
                 "proxy listens in; each --source-listen of the API)")
      ->capture_default_str();
  app.add_option("--reserved-connections", reserved_connections,
                 "Connections of --max-connections kept for guest-facing listeners below their "
                 "fair share (the total divided by the number of such listeners). A listener at "
                 "or over its share is refused once the total reaches max-connections minus "
                 "this, so however many connections some listeners hold, a listener below its "
                 "share is refused only when the total is full and listeners below their share "
                 "hold part of this reserve")
      ->capture_default_str();
  app.add_option("--max-connections-per-address", max_connections_per_address,
                 "Open connections per source address on each guest-facing listener (the same "
                 "address behind another router is another guest); not on the signed "
                 "listener, whose peers are metadata agents, nor on UNIX sockets")
      ->capture_default_str();
  app.add_option("--header-limit", header_limit, "Bytes of request line and headers")
      ->capture_default_str();
  app.add_option("--body-limit", body_limit, "Bytes of request body")->capture_default_str();
  app.add_option("--request-timeout", request_timeout,
                 "Seconds for a whole request to arrive once it has started")
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout, "Seconds a connection may wait between requests")
      ->capture_default_str();
}

http::ServerLimits LimitFlags::Build() const {
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  http::ServerLimits l;
  if (max_connections == 0) throw std::runtime_error("--max-connections: must be at least 1");
  if (max_connections_per_listener == 0)
    throw std::runtime_error("--max-connections-per-listener: must be at least 1");
  if (max_connections_per_address == 0)
    throw std::runtime_error("--max-connections-per-address: must be at least 1");
  if (reserved_connections >= max_connections)
    throw std::runtime_error("--reserved-connections (" + std::to_string(reserved_connections) +
                             ") must be below --max-connections (" +
                             std::to_string(max_connections) + ")");
  l.max_connections = max_connections;
  l.max_connections_per_listener = max_connections_per_listener;
  l.reserved_connections = reserved_connections;
  l.max_connections_per_address = max_connections_per_address;
  l.header_bytes = header_limit;
  l.body_bytes = body_limit;
  l.request_timeout = ms(request_timeout);
  l.idle_timeout = ms(idle_timeout);
  return l;
}

void RateLimitFlags::Declare(CLI::App& app) {
  app.add_option("--rate-limit", rate,
                 "Metadata requests per second per instance, once the instance is identified "
                 "(its IPv4 and IPv6 addresses share one budget); over it the answer is 429 "
                 "with Retry-After. 0 disables. cloud-init's boot is ~30 requests")
      ->capture_default_str();
  app.add_option("--rate-burst", burst,
                 "Requests an instance may make at once after a quiet period (the bucket size)")
      ->capture_default_str();
}

http::RateLimit RateLimitFlags::Build() const {
  if (!(rate >= 0)) throw std::runtime_error("--rate-limit: must be 0 (off) or more");
  if (rate > 0 && !(burst >= 1)) throw std::runtime_error("--rate-burst: must be at least 1");
  http::RateLimit r;
  r.rate = rate;
  r.burst = burst;
  return r;
}

void AdminLimitFlags::Declare(CLI::App& app) {
  app.add_option("--admin-body-limit", body_limit,
                 "Bytes of request body on the admin listener (default: the largest instance "
                 "document the format allows)")
      ->capture_default_str();
}

http::ServerLimits AdminLimitFlags::Build() const {
  http::ServerLimits l;
  l.body_bytes = body_limit;
  return l;
}

void SetLogLevelFlag(const std::string& level) {
  SetLogLevel(level == "debug"     ? LogLevel::kDebug
              : level == "warning" ? LogLevel::kWarning
              : level == "error"   ? LogLevel::kError
                                   : LogLevel::kInfo);
}

void RunUntilSignalled(asio::io_context& ioc, size_t threads, std::function<void()> on_stop,
                       std::function<void()> on_hup) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::signal_set stop(ioc, SIGINT, SIGTERM);
  asio::signal_set hup(ioc, SIGHUP);
  std::function<void()> arm_hup = [&] {
    hup.async_wait([&](const beast::error_code& ec, int) {
      if (ec) return;
      LogInfo("main", "SIGHUP: reloading");
      if (on_hup) on_hup();
      arm_hup();
    });
  };
  arm_hup();
  stop.async_wait([&](const beast::error_code& ec, int sig) {
    if (ec) return;
    LogInfo("main", "signal " + std::to_string(sig) + ": stopping");
    on_stop();
    beast::error_code ignored;
    hup.cancel(ignored);  // with the servers stopped, the io_context then runs out of work
  });
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (size_t i = 1; i < threads; ++i) workers.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : workers) t.join();
}

void RunUntilSignalled(asio::io_context& ioc, http::IoPool& connections,
                       std::function<void()> on_stop, std::function<void()> on_hup) {
  RunUntilSignalled(ioc, 1, std::move(on_stop), std::move(on_hup));
  connections.Stop();
  connections.Join();
}

void WriteReadyFile(const std::string& path, const std::string& json) {
  if (path.empty()) return;
  std::ofstream(path + ".tmp") << json << "\n";
  std::rename((path + ".tmp").c_str(), path.c_str());
}

}  // namespace metastack::cli
