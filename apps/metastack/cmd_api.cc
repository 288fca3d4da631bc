// metastack api: the metadata API service.
#include <iostream>
#include <thread>

#include "admin/handler.h"
#include "api/ops.h"
#include "api/service.h"
#include "base/file.h"
#include "base/log.h"
#include "daemon.h"
#include "http/server.h"
#include "store/store.h"
#include "verbs.h"

namespace metastack::cli {

std::pair<std::string, uint16_t> ParseHostPort(const std::string& text, const std::string& flag) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError(flag, "expected HOST:PORT: " + text);
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "::";
  int port = -1;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
  }
  if (port < 0 || port > 65535) throw CLI::ValidationError(flag, "bad port in " + text);
  return {host, static_cast<uint16_t>(port)};
}

namespace {

struct ApiFlags {
  std::string store = "sqlite:/var/lib/metastack/metastack.db";
  std::vector<std::string> signed_listen;
  std::vector<std::string> source_listen;
  std::string admin_listen = "127.0.0.1:8776";
  std::string secret_file;
  std::vector<std::string> trusted_proxies;
  std::vector<std::string> networks;
  std::string dhcp_domain = "novalocal";
  std::string vendor_data_file;
  size_t threads = 0;
  size_t store_threads = 4;
  size_t cache_instances = 200'000;
  bool check_forwarded_address = true;
  LimitFlags limits;
  RateLimitFlags rate_limit;
  AdminLimitFlags admin_limits;
  std::string admin_token_file;
  std::string ready_file;
  std::string log_level = "info";
};

int RunApi(const ApiFlags& f) {
  SetLogLevelFlag(f.log_level);
  api::ApiOptions options;
  options.settings.dhcp_domain = f.dhcp_domain;
  options.settings.today = TodayUtc();
  options.networks = f.networks;
  options.cache_instances = f.cache_instances;
  options.check_forwarded_address = f.check_forwarded_address;
  options.rate_limit = f.rate_limit.Build();
  http::ServerLimits limits = f.limits.Build();
  if (!f.vendor_data_file.empty()) {
    auto text = ReadFile(f.vendor_data_file);
    if (!text) throw std::runtime_error(text.error().ToString());
    auto j = core::Json::parse(*text, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error(f.vendor_data_file + ": not valid JSON");
    options.settings.vendor_data = std::move(j);
  }
  for (const auto& p : f.trusted_proxies) {
    auto cidr = core::ParseCidr(p.find('/') == std::string::npos
                                    ? p + (p.find(':') == std::string::npos ? "/32" : "/128")
                                    : p);
    if (!cidr) throw std::runtime_error("--trusted-proxy: not an address or CIDR: " + p);
    options.trusted_proxies.push_back(*cidr);
  }
  std::vector<std::string> signed_listen = f.signed_listen;
  if (signed_listen.empty() && f.source_listen.empty()) signed_listen.push_back("0.0.0.0:8775");
  if (!signed_listen.empty()) {
    if (f.secret_file.empty())
      throw std::runtime_error("--secret-file is required for signed listeners (--signed-listen)");
    options.shared_secret = ReadSecretFile(f.secret_file);
  }
  auto store = store::OpenStore(f.store);
  if (!store) throw std::runtime_error(store.error().ToString());

  asio::io_context ioc;
  asio::thread_pool pool(f.store_threads);
  http::Metrics metrics;
  api::MetadataApi api(**store, pool, options, metrics);
  http::IoPool connections(f.threads);  // metadata requests run here, one context per thread
  http::Server server(ioc, limits, &connections, &metrics);
  http::Server admin_server(ioc, f.admin_limits.Build(), nullptr, &metrics);
  api::OpsEndpoints ops(**store, pool, metrics, &api, &server);

  nlohmann::json ready = {{"signed", nlohmann::json::array()}, {"source", nlohmann::json::array()}};
  auto listen = [&](const std::string& spec, const char* flag, http::Handler handler,
                    const char* kind, http::PeerLimit peer_limit) {
    auto [host, port] = ParseHostPort(spec, flag);
    auto ep = server.ListenTcp(host, port, std::move(handler), nullptr, peer_limit);
    if (!ep) throw std::runtime_error(ep.error().ToString());
    std::string where = host + ":" + std::to_string(ep->port());
    LogInfo("api", std::string("listening (") + kind + ") on " + where);
    return ep->port();
  };
  for (const auto& l : signed_listen)
    ready["signed"].push_back(listen(l, "--signed-listen",
                                     api.Handler(api::Identification::kSigned), "signed",
                                     http::PeerLimit::kTotalOnly));
  for (const auto& l : f.source_listen)
    ready["source"].push_back(listen(l, "--source-listen",
                                     api.Handler(api::Identification::kSourceAddress),
                                     "source address", http::PeerLimit::kPerAddress));
  if (!f.admin_listen.empty()) {
    auto [host, port] = ParseHostPort(f.admin_listen, "--admin-listen");
    std::string token = f.admin_token_file.empty() ? "" : ReadSecretFile(f.admin_token_file, 16);
    auto ep = admin_server.ListenTcp(host, port,
                                     admin::MakeAdminHandler(**store, pool, token, ops.Handler()));
    if (!ep) throw std::runtime_error(ep.error().ToString());
    ready["admin"] = ep->port();
    LogInfo("api", "admin (healthz, metrics) on " + host + ":" + std::to_string(ep->port()));
  }
  WriteReadyFile(f.ready_file, ready.dump());
  // The io_context itself only accepts, answers the admin listener and waits for signals.
  RunUntilSignalled(ioc, connections, [&] {
    server.Stop();
    admin_server.Stop();
  });
  pool.join();
  return kExitOk;
}

}  // namespace

Run SetupApi(CLI::App& app) {
  auto f = std::make_shared<ApiFlags>();
  app.set_config("--config", "", "Read options from this file (INI or TOML: key = value)");
  app.add_option("--store", f->store, "Store URL: sqlite:PATH, postgresql://..., memory:")
      ->capture_default_str();
  app.add_option("--signed-listen", f->signed_listen,
                 "HOST:PORT for requests signed by the metadata agent (X-Instance-ID, "
                 "X-Tenant-ID, X-Instance-ID-Signature); repeatable. Default 0.0.0.0:8775 when "
                 "no listener is given");
  app.add_option("--source-listen", f->source_listen,
                 "HOST:PORT identifying callers by source address (flat networks, or "
                 "169.254.169.254:80 itself); repeatable");
  app.add_option(
         "--admin-listen", f->admin_listen,
         "HOST:PORT for the admin API, /healthz and /metrics ('' to disable); never guest-facing")
      ->capture_default_str();
  app.add_option("--secret-file", f->secret_file,
                 "File holding the secret shared with the metadata agent (HMAC-SHA256 key)");
  app.add_option("--trusted-proxy", f->trusted_proxies,
                 "Address or CIDR of a proxy whose X-Forwarded-For names the caller "
                 "(source-address listeners); repeatable");
  app.add_option("--network", f->networks,
                 "Network searched for callers of source-address listeners; repeatable "
                 "(default: all networks)");
  app.add_option("--dhcp-domain", f->dhcp_domain, "Domain appended to hostnames ('' for none)")
      ->capture_default_str();
  app.add_option("--vendor-data", f->vendor_data_file,
                 "JSON file of vendor data for instances whose document has none");
  app.add_option("--threads", f->threads, "Threads serving HTTP (default: one per core)");
  app.add_option("--store-threads", f->store_threads, "Threads making store calls")
      ->capture_default_str();
  app.add_option("--cache-instances", f->cache_instances,
                 "Instances whose rendered metadata is kept in memory")
      ->capture_default_str();
  app.add_flag("!--no-check-forwarded-address", f->check_forwarded_address,
               "Signed listeners: serve an instance even when it does not own the "
               "X-Forwarded-For address the agent forwards (by default such a request is "
               "answered 404: a stale port cache in front must not cross tenants)");
  f->limits.Declare(app);
  f->rate_limit.Declare(app);
  f->admin_limits.Declare(app);
  app.add_option("--admin-token-file", f->admin_token_file,
                 "File with the bearer token of the admin API (/v1/...) on --admin-listen; "
                 "without it the admin API refuses every request");
  app.add_option("--ready-file", f->ready_file,
                 "Write the bound ports here as JSON once listening (for supervisors and tests)");
  app.add_option("--log-level", f->log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.footer(
      "Serves OpenStack and EC2 metadata as nova-api-metadata does, from memory: documents are\n"
      "rendered once per instance and dropped the moment the store reports a change.\n"
      "SIGTERM or SIGINT stops it.");
  return [f] { return RunApi(*f); };
}

}  // namespace metastack::cli
