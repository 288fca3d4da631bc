#include "daemon/process.h"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "admin/handler.h"
#include "base/base64.h"
#include "base/file.h"
#include "base/log.h"
#include "daemon/ops.h"
#include "daemon/systemd.h"
#include "http/upstream.h"
#include "net/netns.h"
#include "netns_manager/manager.h"
#include "store/store.h"

namespace metastack::daemon {
namespace {

// Everything checked and converted before anything is opened, so that a bad configuration
// (and --check) fails without side effects.
struct Plan {
  http::ServerLimits limits;
  http::ServerLimits admin_limits;
  std::optional<api::ApiOptions> api;
  std::vector<std::pair<std::string, uint16_t>> signed_listen, source_listen;
  std::optional<std::pair<std::string, uint16_t>> admin_listen, ops_listen;
  std::string admin_token;
  std::string secret;
  mode_t agent_socket_mode = 0660;
  std::vector<proxy::ListenerSpec> listeners;
  std::optional<netns_manager::Settings> manage;
  std::optional<drives::KeeperSettings> keeper;
  // TLS of the signed listeners and of the admin listener (null: plain HTTP).
  std::shared_ptr<http::TlsServer> api_tls, admin_tls;
  // The agent's API and the proxy's agent when they run in another process (null in this one).
  std::shared_ptr<http::Upstream> api_upstream, agent_upstream;
};

std::string RandomSecret() {
  uint8_t bytes[32];
  SystemRandom(bytes);
  return Base64Encode(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

// The upstream a component sends to when the next hop runs in another process; the error names
// the flag and says what went wrong (not a URL form, or a host that does not resolve).
std::shared_ptr<http::Upstream> RemoteUpstream(
    std::string_view flag, const std::string& url, double timeout_seconds,
    std::shared_ptr<boost::asio::ssl::context> tls = nullptr) {
  http::UpstreamOptions options;
  options.response_timeout = Milliseconds(timeout_seconds);
  options.tls = std::move(tls);
  auto upstream = http::MakeUpstream(url, options);
  if (!upstream) throw std::runtime_error(std::string(flag) + ": " + upstream.error().message);
  return *upstream;
}

Plan MakePlan(const DaemonConfig& c) {
  const Components& run = c.run;
  Plan p;
  p.limits = BuildLimits(c.limits);
  if (!c.ops.listen.empty()) p.ops_listen = ParseHostPort(c.ops.listen, "--ops-listen");
  if (run.api) {
    p.api = BuildApiOptions(c.api);
    // With an agent in this process, it logs the signed requests (it knows the namespace).
    if (c.general.access_log)
      p.api->access_log =
          run.agent ? api::ApiOptions::AccessLog::kSourceAddress : api::ApiOptions::AccessLog::kAll;
    std::vector<std::string> signed_listen = c.api.signed_listen;
    if (signed_listen.empty() && !run.agent && c.api.source_listen.empty())
      signed_listen.push_back("0.0.0.0:8775");
    for (const auto& l : signed_listen)
      if (!l.empty()) p.signed_listen.push_back(ParseHostPort(l, "--signed-listen"));
    for (const auto& l : c.api.source_listen)
      if (!l.empty()) p.source_listen.push_back(ParseHostPort(l, "--source-listen"));
    if (!run.agent && p.signed_listen.empty() && p.source_listen.empty())
      throw std::runtime_error("the API has no listener: give --signed-listen or --source-listen");
    p.admin_limits.body_bytes = c.admin.body_limit;
    if (!c.admin.listen.empty()) p.admin_listen = ParseHostPort(c.admin.listen, "--admin-listen");
    if (!c.admin.token_file.empty()) p.admin_token = ReadSecretFile(c.admin.token_file, 16);
    p.keeper = BuildKeeperSettings(c);
    p.api_tls =
        BuildTlsServer("--api", c.api.tls_cert_file, c.api.tls_key_file, c.api.tls_client_ca_file);
    if (p.api_tls && p.signed_listen.empty())
      throw std::runtime_error(
          "--api-tls-cert-file: there is no signed listener to serve TLS "
          "on (--signed-listen)");
    p.admin_tls = BuildTlsServer("--admin", c.admin.tls_cert_file, c.admin.tls_key_file,
                                 c.admin.tls_client_ca_file);
    if (p.admin_tls && !p.admin_listen)
      throw std::runtime_error("--admin-tls-cert-file: the admin listener is off (--admin-listen)");
  }
  if (!c.general.secret_file.empty()) {
    p.secret = ReadSecretFile(c.general.secret_file);
  } else if (run.api && run.agent) {
    if (!p.signed_listen.empty())
      throw std::runtime_error(
          "--secret-file is required for the signed listener (--signed-listen; '' for none)");
    p.secret = RandomSecret();  // every hop that signs and checks is in this process
  } else if (run.agent) {
    throw std::runtime_error("--secret-file is required");
  } else if (run.api && !p.signed_listen.empty()) {
    throw std::runtime_error("--secret-file is required for signed listeners (--signed-listen)");
  }
  if (p.api) p.api->shared_secret = p.secret;
  if (p.api && p.api->token_keys.empty() && c.general.secret_file.empty())
    LogWarning(
        "api",
        "session tokens are sealed with a random key of this process (no --token-keys-file "
        "and no --secret-file): they do not survive a restart and no other node accepts them");
  if (run.agent) {
    p.agent_socket_mode = ParseMode(c.agent.socket_mode, "--agent-socket-mode");
    if (!run.api)
      p.api_upstream = RemoteUpstream("--api-url", c.agent.api_url, c.agent.api_timeout,
                                      BuildApiTlsClient(c.agent));
  }
  if (run.proxy) {
    p.listeners = BuildListeners(c.proxy);
    p.manage = BuildManageSettings(c);
    if (!run.agent)
      p.agent_upstream = RemoteUpstream("--agent", c.proxy.agent_url, c.proxy.agent_timeout);
  }
  return p;
}

proxy::Binder NamespaceBinder() {
  return [](const proxy::ListenerSpec& s) {
    net::ListenOptions o;
    o.nonblocking = true;
    return net::BindTcpInNamespace(s.netns, s.address, s.port, o);
  };
}

void EnsureParentDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
}

void Check(Status st) {
  if (!st) throw std::runtime_error(st.error().ToString());
}

void WriteReadyFile(const std::string& path, const std::string& json) {
  if (path.empty()) return;
  std::ofstream(path + ".tmp") << json << "\n";
  std::rename((path + ".tmp").c_str(), path.c_str());
}

// ", TLS" or ", mutual TLS" for a listener's log line, and a warning for a certificate that is
// no longer valid (clients refuse it).
std::string TlsNote(const http::TlsServer* tls) {
  if (!tls) return "";
  if (tls->not_after() < std::time(nullptr))
    LogWarning("main", tls->files().cert_file + ": the certificate has expired: clients refuse it");
  return tls->mutual() ? ", mutual TLS" : ", TLS";
}

std::string Describe(const Components& run) {
  std::string s;
  for (auto [on, name] : {std::pair{run.proxy, "proxy"}, {run.agent, "agent"}, {run.api, "api"}})
    if (on) s += s.empty() ? name : std::string(" -> ") + name;
  return s;
}

// What SIGHUP cannot apply: the sections and keys that differ, for the log.
std::vector<std::string> NeedRestart(const DaemonConfig& a, const DaemonConfig& b) {
  std::vector<std::string> out;
  auto& g = a.general;
  auto& h = b.general;
  if (g.store != h.store) out.push_back("store");
  if (g.secret_file != h.secret_file) out.push_back("secret-file");
  if (g.threads != h.threads || g.store_threads != h.store_threads) out.push_back("threads");
  if (g.access_log != h.access_log) out.push_back("access-log");
  if (!(a.ops == b.ops)) out.push_back("[ops]");
  AdminConfig admin_a = a.admin, admin_b = b.admin;  // TLS files are re-read on SIGHUP
  for (AdminConfig* x : {&admin_a, &admin_b})
    x->tls_cert_file = x->tls_key_file = x->tls_client_ca_file = "";
  if (!(admin_a == admin_b)) out.push_back("[admin]");
  if (!(a.agent == b.agent)) out.push_back("[agent]");
  auto tls_on = [](const std::string& cert) { return !cert.empty(); };
  if (tls_on(a.api.tls_cert_file) != tls_on(b.api.tls_cert_file) ||
      tls_on(a.admin.tls_cert_file) != tls_on(b.admin.tls_cert_file))
    out.push_back("TLS on or off");
  const ApiConfig& x = a.api;
  const ApiConfig& y = b.api;
  if (x.signed_listen != y.signed_listen || x.source_listen != y.source_listen ||
      x.trusted_proxies != y.trusted_proxies || x.networks != y.networks ||
      x.cache_instances != y.cache_instances ||
      x.check_forwarded_address != y.check_forwarded_address || x.rate != y.rate ||
      x.burst != y.burst || x.vendordata_dynamic_targets != y.vendordata_dynamic_targets ||
      x.vendordata_dynamic_connect_timeout != y.vendordata_dynamic_connect_timeout ||
      x.vendordata_dynamic_read_timeout != y.vendordata_dynamic_read_timeout ||
      x.watch_max_timeout != y.watch_max_timeout ||
      x.watchers_per_instance != y.watchers_per_instance || x.watchers != y.watchers ||
      x.http_tokens != y.http_tokens || x.token_keys_file != y.token_keys_file ||
      x.identity_key_file != y.identity_key_file ||
      x.identity_certificate_file != y.identity_certificate_file)
    out.push_back("[api] (other than vendor-data and dhcp-domain)");
  if (a.proxy.agent_url != b.proxy.agent_url || a.proxy.control != b.proxy.control ||
      a.proxy.agent_timeout != b.proxy.agent_timeout)
    out.push_back("[proxy] agent and control");
  if (a.proxy.manage != b.proxy.manage) out.push_back("[proxy] manage");
  if (!(a.configdrive == b.configdrive)) out.push_back("[configdrive]");
  return out;
}

}  // namespace

int RunDaemon(const DaemonConfig& config, std::function<DaemonConfig()> reread) {
  const Components run = config.run;
  ApplyLogLevel(config.general.log_level);
  Plan plan = MakePlan(config);
  if (config.general.check) {
    std::cout << "metastack: configuration OK (" << Describe(run) << ")\n";
    return 0;
  }
  std::unique_ptr<store::Store> store;
  if (run.api || run.agent || plan.manage) {
    auto opened = store::OpenStore(config.general.store);
    if (!opened) throw std::runtime_error("--store: " + opened.error().ToString());
    store = std::move(*opened);
  }
  std::signal(SIGPIPE, SIG_IGN);

  // Declared in this order so that everything a connection uses outlives it: the pool of
  // connection contexts first (its contexts hold the connections, and the upstream connections
  // opened on them), then the store threads, then the components.
  asio::io_context ioc;
  ServiceNotifier systemd(ioc);  // READY, RELOADING, STOPPING and the watchdog (systemd.h)
  http::IoPool connections(config.general.threads);
  // The remote upstreams keep idle connections on those contexts: they must go before the
  // contexts do (not with the plan, which outlives them).
  std::shared_ptr<http::Upstream> api_upstream = std::move(plan.api_upstream);
  std::shared_ptr<http::Upstream> agent_upstream = std::move(plan.agent_upstream);
  asio::thread_pool pool(config.general.store_threads);
  http::Metrics metrics;
  http::Server data(ioc, plan.limits, &connections, &metrics);
  http::Server local(ioc, http::ServerLimits{});
  http::Server admin_server(ioc, plan.admin_limits, nullptr, &metrics);
  nlohmann::json ready = nlohmann::json::object();

  std::optional<api::MetadataApi> api;
  if (run.api) {
    api.emplace(*store, pool, *plan.api, metrics);
    ready["signed"] = ready["source"] = nlohmann::json::array();
    const std::string tls_note = plan.signed_listen.empty() ? "" : TlsNote(plan.api_tls.get());
    for (const auto& [host, port] : plan.signed_listen) {
      auto ep = data.ListenTcp(host, port, api->Handler(api::Identification::kSigned), nullptr,
                               http::PeerLimit::kTotalOnly, plan.api_tls);
      if (!ep) throw std::runtime_error("--signed-listen: " + ep.error().ToString());
      ready["signed"].push_back(ep->port());
      LogInfo("api",
              "listening (signed" + tls_note + ") on " + host + ":" + std::to_string(ep->port()));
    }
    for (const auto& [host, port] : plan.source_listen) {
      auto ep = data.ListenTcp(host, port, api->Handler(api::Identification::kSourceAddress));
      if (!ep) throw std::runtime_error("--source-listen: " + ep.error().ToString());
      ready["source"].push_back(ep->port());
      LogInfo("api", "listening (source address) on " + host + ":" + std::to_string(ep->port()));
    }
  }

  // Beside the API, whose render settings it builds with (a drive says what the service
  // serves); its own thread, never an io_context.
  std::optional<drives::DriveKeeper> keeper;
  if (plan.keeper) {
    const drives::KeeperSettings& k = *plan.keeper;
    keeper.emplace(*store, metrics, k, *api->settings());
    keeper->Start();
    ready["configdrive"] = k.dir;
    LogInfo("configdrive", "keeping drives current in " + k.dir + " (" +
                               std::string(configdrive::DriveLayoutName(k.spec.layout)) + ", " +
                               std::string(configdrive::DiskFormatName(k.spec.disk)) + ", *." +
                               std::string(drives::DriveExtension(k.spec)) + ") for " +
                               (k.all ? "every instance" : "instances with config_drive"));
  }

  std::optional<agent::MetadataAgent> agent;
  if (run.agent) {
    std::shared_ptr<http::Upstream> upstream =
        api ? http::MakeInProcessUpstream(api->Handler(api::Identification::kSigned),
                                          "in-process API")
            : api_upstream;
    agent::AgentOptions options{plan.secret, config.agent.cache_entries, config.general.access_log};
    agent.emplace(*store, pool, upstream, options, metrics);
    EnsureParentDir(config.agent.socket);
    Check(data.ListenUnix(config.agent.socket, plan.agent_socket_mode, agent->Handler()));
    ready["agent"] = config.agent.socket;
    LogInfo("agent", "listening on " + config.agent.socket + ", forwarding to " +
                         (api ? std::string("the in-process API") : config.agent.api_url));
  }

  std::optional<proxy::NsProxy> ns_proxy;
  if (run.proxy) {
    std::shared_ptr<http::Upstream> upstream =
        agent ? http::MakeInProcessUpstream(agent->Handler(), "in-process agent") : agent_upstream;
    // With an agent in this process, the agent's line (which names the instance) is the one.
    ns_proxy.emplace(data, upstream, NamespaceBinder(), metrics,
                     config.general.access_log && !agent);
    EnsureParentDir(config.proxy.control);
    Check(local.ListenUnix(config.proxy.control, 0600, ns_proxy->ControlHandler()));
    Check(ns_proxy->Reconcile(plan.listeners));
    LogInfo("proxy", "control API on " + config.proxy.control + "; " +
                         std::to_string(plan.listeners.size()) + " listeners, forwarding to " +
                         (agent ? std::string("the in-process agent") : config.proxy.agent_url));
  }

  // After the proxy (whose listeners it opens and closes), stopped before it.
  std::optional<netns_manager::NamespaceManager> manager;
  if (plan.manage) {
    manager.emplace(*store, *ns_proxy, metrics, *plan.manage);
    manager->Start();
    ready["managed"] = plan.manage->host;
    LogInfo("managed", "serving the routers and networks of host " + plan.manage->host +
                           " (and of none) as their namespaces appear");
  }

  OpsEndpoints ops(
      metrics, OpsParts{store.get(), store ? &pool : nullptr, api ? &*api : nullptr,
                        agent ? &*agent : nullptr, ns_proxy ? &*ns_proxy : nullptr, &data,
                        manager ? &*manager : nullptr, keeper ? &*keeper : nullptr, &admin_server,
                        plan.api_tls.get(), plan.admin_tls.get()});
  if (plan.ops_listen) {
    auto [host, port] = *plan.ops_listen;
    auto ep = local.ListenTcp(host, port, ops.Handler(), nullptr, http::PeerLimit::kTotalOnly);
    if (!ep) throw std::runtime_error("--ops-listen: " + ep.error().ToString());
    ready["ops"] = ep->port();
    LogInfo("main", "/healthz and /metrics on " + host + ":" + std::to_string(ep->port()));
  }
  if (plan.admin_listen) {
    auto [host, port] = *plan.admin_listen;
    auto ep = admin_server.ListenTcp(
        host, port, admin::MakeAdminHandler(*store, pool, plan.admin_token, ops.Handler()), nullptr,
        http::PeerLimit::kPerAddress, plan.admin_tls);
    if (!ep) throw std::runtime_error("--admin-listen: " + ep.error().ToString());
    ready["admin"] = ep->port();
    LogInfo("api", "admin (healthz, metrics" + TlsNote(plan.admin_tls.get()) + ") on " + host +
                       ":" + std::to_string(ep->port()));
  }
  if (ns_proxy) ready["proxy"] = ns_proxy->List()["listeners"];
  WriteReadyFile(config.general.ready_file, ready.dump());
  LogInfo("main", "serving: " + Describe(run));

  DaemonConfig current = config;
  // True when the new configuration applied; false when it was refused (nothing changed).
  auto reload = [&] {
    DaemonConfig next;
    std::optional<api::ApiOptions> api_options;
    std::vector<proxy::ListenerSpec> listeners;
    std::optional<netns_manager::Settings> manage;
    http::ServerLimits limits;
    std::shared_ptr<http::TlsServer> api_tls, admin_tls;
    try {
      next = reread ? reread() : current;
      limits = BuildLimits(next.limits);
      // The certificates are read again (renewed in place, or at new paths).
      if (plan.api_tls)
        api_tls = BuildTlsServer("--api", next.api.tls_cert_file, next.api.tls_key_file,
                                 next.api.tls_client_ca_file);
      if (plan.admin_tls)
        admin_tls = BuildTlsServer("--admin", next.admin.tls_cert_file, next.admin.tls_key_file,
                                   next.admin.tls_client_ca_file);
      if (api) api_options = BuildApiOptions(next.api);
      if (ns_proxy) listeners = BuildListeners(next.proxy);
      manage = BuildManageSettings(next);
    } catch (const std::exception& e) {
      LogError("main", std::string("SIGHUP: configuration refused, nothing changed: ") + e.what());
      return false;
    }
    ApplyLogLevel(next.general.log_level);
    data.SetLimits(limits);
    for (auto [in_use, read] :
         {std::pair{plan.api_tls.get(), api_tls.get()}, {plan.admin_tls.get(), admin_tls.get()}})
      if (in_use && read) {
        in_use->Replace(*read);
        LogInfo("main", "SIGHUP: " + in_use->files().cert_file + " read again" + TlsNote(in_use) +
                            ": new connections get it");
      }
    if (api) api->SetSettings(api_options->settings);
    if (keeper) keeper->SetRenderSettings(api_options->settings);
    if (ns_proxy) ns_proxy->ReconcileInBackground(std::move(listeners));
    if (manager && manage) manager->SetSettings(std::move(*manage));
    for (const auto& what : NeedRestart(current, next))
      LogWarning("main", "SIGHUP: " + what + " changed; it takes effect at the next start");
    LogInfo("main", "SIGHUP: configuration reloaded");
    current = std::move(next);
    return true;
  };

  // SIGTERM/SIGINT: drain, then stop; SIGHUP: reload.
  asio::signal_set stop(ioc, SIGINT, SIGTERM);
  asio::signal_set hup(ioc, SIGHUP);
  asio::steady_timer drain_timer(ioc);

  std::function<void()> arm_hup = [&] {
    hup.async_wait([&](const beast::error_code& ec, int) {
      if (ec) return;
      systemd.Reloading("reloading the configuration (SIGHUP)");
      bool applied = reload();
      systemd.Ready("serving: " + Describe(run) +
                    (applied ? "" : "; the last SIGHUP's configuration was refused (see the log)"));
      arm_hup();
    });
  };
  arm_hup();
  auto started_drain = std::chrono::steady_clock::now();
  std::function<void()> wait_drained = [&] {
    size_t open = data.open_connections() + admin_server.open_connections();
    const double deadline = current.limits.drain_timeout;
    if (open == 0 || std::chrono::steady_clock::now() - started_drain >= Milliseconds(deadline)) {
      if (open > 0)
        LogWarning("main", std::to_string(open) + " connections still busy after " +
                               std::to_string(deadline) + " s: closed");
      data.Stop();
      local.Stop();
      admin_server.Stop();
      systemd.StopWatchdog();
      LogInfo("main", "stopped");
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](const beast::error_code& ec) {
      if (!ec) wait_drained();
    });
  };
  stop.async_wait([&](const beast::error_code& ec, int sig) {
    if (ec) return;
    LogInfo("main", "signal " + std::to_string(sig) + ": draining");
    systemd.Stopping("draining: closing listeners, finishing requests in flight");
    beast::error_code ignored;
    hup.cancel(ignored);
    if (manager) manager->Stop();  // before the proxy's listeners close: it opens them
    if (keeper) keeper->Stop();    // its drives stay as they are
    data.Drain();
    local.Drain();
    admin_server.Drain();
    // Waiting requests answer now; after the servers drain, so that their answers carry
    // Connection: close (answered before, one would leave as keep-alive and its connection
    // close only once idle).
    if (api) api->Drain();
    started_drain = std::chrono::steady_clock::now();
    wait_drained();
  });
  // Only now: a SIGHUP or SIGTERM systemd sends once it reads READY=1 must find its handler.
  systemd.Ready("serving: " + Describe(run));
  ioc.run();
  connections.Stop();
  connections.Join();
  pool.join();
  return 0;
}

}  // namespace metastack::daemon
