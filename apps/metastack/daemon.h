#pragma once
// What every long-running verb shares: reading secrets, running the io_context on N threads
// until SIGINT/SIGTERM, and SIGHUP delivery.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "core/instance.h"
#include "http/asio.h"
#include "http/rate_limiter.h"
#include "http/server.h"

namespace metastack::cli {

// A secret or token file's contents without a trailing newline; throws with a clear message
// when missing, empty or shorter than `min_length`.
std::string ReadSecretFile(const std::string& path, size_t min_length = 1);

// The shared --max-connections ... --idle-timeout flags (http::ServerLimits states what the
// connection limits guarantee).
struct LimitFlags {
  size_t max_connections = 10'000;
  size_t max_connections_per_listener = 2'500;
  size_t reserved_connections = 2'500;
  size_t max_connections_per_address = 256;
  size_t header_limit = 8192;
  size_t body_limit = 65536;
  double request_timeout = 10;
  double idle_timeout = 30;
  void Declare(CLI::App& app);
  http::ServerLimits Build() const;  // throws on a combination that cannot work
};

// --rate-limit and --rate-burst: the metadata API's per-instance request rate.
struct RateLimitFlags {
  double rate = 20;
  double burst = 200;
  void Declare(CLI::App& app);
  http::RateLimit Build() const;  // throws on a negative rate or a burst below 1
};

// The admin listener's own limits (--admin-body-limit): its bodies are instance documents, so
// the default admits the largest one the format allows; the rest are http::ServerLimits' defaults.
struct AdminLimitFlags {
  size_t body_limit = core::DocumentLimits::kMaxDocumentBytes;
  void Declare(CLI::App& app);
  http::ServerLimits Build() const;
};

void SetLogLevelFlag(const std::string& level);

// Runs `ioc` on `threads` threads (0: one per core) until SIGINT or SIGTERM, when `on_stop`
// runs (it should stop servers so the io_context runs out of work). `on_hup` runs on SIGHUP.
void RunUntilSignalled(asio::io_context& ioc, size_t threads, std::function<void()> on_stop,
                       std::function<void()> on_hup = {});
// The same for a daemon whose connections run on `connections`: `ioc` (accepting, control,
// signals) runs on this thread alone; once it is out of work the pool is stopped and joined, so
// nothing declared after the pool (upstream connections opened on its contexts) outlives it.
void RunUntilSignalled(asio::io_context& ioc, http::IoPool& connections,
                       std::function<void()> on_stop, std::function<void()> on_hup = {});

// Writes `json` to `path` atomically (for --ready-file).
void WriteReadyFile(const std::string& path, const std::string& json);

}  // namespace metastack::cli
