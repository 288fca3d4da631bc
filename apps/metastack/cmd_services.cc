// metastack agent | proxy | proxy-ctl | serve: the namespace path's daemons, separately or all in
// one process.
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "admin/handler.h"
#include "agent/agent.h"
#include "api/ops.h"
#include "api/service.h"
#include "base/file.h"
#include "base/log.h"
#include "core/base64.h"
#include "daemon.h"
#include "http/client.h"
#include "net/netns.h"
#include "proxy/proxy.h"
#include "store/store.h"
#include "verbs.h"

namespace metastack::cli {
namespace {

proxy::Binder NamespaceBinder() {
  return [](const proxy::ListenerSpec& s) {
    net::ListenOptions o;
    o.nonblocking = true;
    return net::BindTcpInNamespace(s.netns, s.address, s.port, o);
  };
}

mode_t ParseMode(const std::string& text) {
  size_t used = 0;
  unsigned long m = 0;
  try {
    m = std::stoul(text, &used, 8);
  } catch (...) {
  }
  if (used != text.size() || m > 07777)
    throw std::runtime_error("--socket-mode: not an octal mode: " + text);
  return static_cast<mode_t>(m);
}

// "NAME,NETNS,router|network,ID[,ADDRESS,PORT]" (NETNS may be empty).
proxy::ListenerSpec ParseListenFlag(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  if (parts.size() != 4 && parts.size() != 6)
    throw std::runtime_error("--listen: expected NAME,NETNS,router|network,ID[,ADDRESS,PORT]: " +
                             text);
  nlohmann::json j = {
      {"name", parts[0]}, {"netns", parts[1]}, {"kind", parts[2]}, {"id", parts[3]}};
  if (parts.size() == 6) {
    j["address"] = parts[4];
    j["port"] = static_cast<uint64_t>(std::stoul(parts[5]));
  }
  auto spec = proxy::ListenerFromJson(j);
  if (!spec) throw std::runtime_error("--listen " + text + ": " + spec.error().ToString());
  return *spec;
}

std::vector<proxy::ListenerSpec> LoadListeners(const std::string& file,
                                               const std::vector<std::string>& inline_specs) {
  std::vector<proxy::ListenerSpec> out;
  if (!file.empty()) {
    auto text = ReadFile(file);
    if (!text) throw std::runtime_error(text.error().ToString());
    auto parsed = proxy::ParseListenersFile(*text);
    if (!parsed) throw std::runtime_error(file + ": " + parsed.error().ToString());
    out = *parsed;
  }
  for (const auto& s : inline_specs) out.push_back(ParseListenFlag(s));
  return out;
}

struct AgentFlags {
  std::string socket = "/run/metastack/agent.sock";
  std::string socket_mode = "0660";
  std::string api_url = "http://127.0.0.1:8775";
  std::string secret_file;
  double api_timeout = 30;
  void Declare(CLI::App& app, bool with_api) {
    app.add_option("--agent-socket", socket, "UNIX socket the ns-proxy connects to")
        ->capture_default_str();
    app.add_option("--agent-socket-mode", socket_mode, "Permissions of that socket (octal)")
        ->capture_default_str();
    if (with_api)
      app.add_option("--api-url", api_url,
                     "The metadata API (ours or Nova's nova-api-metadata): http://HOST:PORT")
          ->capture_default_str();
    app.add_option("--api-timeout", api_timeout, "Seconds to wait for the metadata API's answer")
        ->capture_default_str();
  }
};

struct ProxyFlags {
  std::string agent_url = "unix:/run/metastack/agent.sock";
  std::string control = "/run/metastack/proxy.sock";
  std::string listeners_file;
  std::vector<std::string> listen;
  double agent_timeout = 30;
  void Declare(CLI::App& app, bool with_agent) {
    if (with_agent)
      app.add_option("--agent", agent_url, "The metadata agent: unix:PATH or http://HOST:PORT")
          ->capture_default_str();
    app.add_option("--control", control,
                   "UNIX socket (mode 0600) of the control API: GET/POST /listeners, "
                   "DELETE /listeners/NAME, GET /metrics")
        ->capture_default_str();
    app.add_option("--listeners", listeners_file,
                   "JSON file {\"listeners\": [{name, netns, kind, id, address, port}]}; re-read "
                   "on SIGHUP (listeners added and removed to match)");
    app.add_option("--listen", listen,
                   "A listener NAME,NETNS,router|network,ID[,ADDRESS,PORT]; repeatable. Router "
                   "listeners default to [::]:9697, network listeners to 169.254.169.254:80");
    app.add_option("--agent-timeout", agent_timeout, "Seconds to wait for the agent's answer")
        ->capture_default_str();
  }
};

struct AgentVerbFlags {
  std::string store = "sqlite:/var/lib/metastack/metastack.db";
  AgentFlags agent;
  size_t threads = 0, store_threads = 4;
  LimitFlags limits;
  std::string log_level = "info";
};

void EnsureParentDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
}

int RunAgent(const AgentVerbFlags& f) {
  SetLogLevelFlag(f.log_level);
  if (f.agent.secret_file.empty()) throw std::runtime_error("--secret-file is required");
  agent::AgentOptions options{ReadSecretFile(f.agent.secret_file)};
  auto store = store::OpenStore(f.store);
  if (!store) throw std::runtime_error(store.error().ToString());
  asio::io_context ioc;
  // Requests run on these, one context per thread, each with its own connections to the API;
  // declared first so that it outlives every connection opened on it.
  http::IoPool connections(f.threads);
  asio::thread_pool pool(f.store_threads);
  http::Metrics metrics;
  http::UpstreamOptions up;
  up.response_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.agent.api_timeout * 1000));
  auto api = http::MakeUpstream(f.agent.api_url, up);
  if (!api) throw std::runtime_error("--api-url: " + api.error().ToString());
  agent::MetadataAgent agent(**store, pool, *api, options, metrics);
  http::Server server(ioc, f.limits.Build(), &connections, &metrics);
  EnsureParentDir(f.agent.socket);
  if (auto st = server.ListenUnix(f.agent.socket, ParseMode(f.agent.socket_mode), agent.Handler());
      !st)
    throw std::runtime_error(st.error().ToString());
  LogInfo("agent", "listening on " + f.agent.socket + ", forwarding to " + f.agent.api_url);
  RunUntilSignalled(ioc, connections, [&] { server.Stop(); });
  pool.join();
  return kExitOk;
}

struct ProxyVerbFlags {
  ProxyFlags proxy;
  size_t threads = 0;
  LimitFlags limits;
  std::string log_level = "info";
};

int RunProxy(const ProxyVerbFlags& f) {
  SetLogLevelFlag(f.log_level);
  auto listeners = LoadListeners(f.proxy.listeners_file, f.proxy.listen);
  asio::io_context ioc;
  // Guests' requests run on these, one context per thread, each with its own connections to
  // the agent; declared first so that it outlives every connection opened on it. The
  // io_context accepts, serves the control socket and applies reloads.
  http::IoPool connections(f.threads);
  http::Metrics metrics;
  http::UpstreamOptions up;
  up.response_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(f.proxy.agent_timeout * 1000));
  auto agent = http::MakeUpstream(f.proxy.agent_url, up);
  if (!agent) throw std::runtime_error("--agent: " + agent.error().ToString());
  http::Server server(ioc, f.limits.Build(), &connections, &metrics);
  http::Server control(ioc, http::ServerLimits{});
  proxy::NsProxy ns_proxy(server, *agent, NamespaceBinder(), metrics);
  EnsureParentDir(f.proxy.control);
  if (auto st = control.ListenUnix(f.proxy.control, 0600, ns_proxy.ControlHandler()); !st)
    throw std::runtime_error(st.error().ToString());
  if (auto st = ns_proxy.Reconcile(listeners); !st) throw std::runtime_error(st.error().ToString());
  LogInfo("proxy", "control API on " + f.proxy.control + "; " + std::to_string(listeners.size()) +
                       " listeners");
  RunUntilSignalled(
      ioc, connections,
      [&] {
        server.Stop();
        control.Stop();
      },
      [&] {
        try {
          ns_proxy.ReconcileInBackground(LoadListeners(f.proxy.listeners_file, f.proxy.listen));
        } catch (const std::exception& e) {
          LogError("proxy", std::string("reload refused: ") + e.what());
        }
      });
  return kExitOk;
}

Run SetupAgent(CLI::App& app) {
  auto f = std::make_shared<AgentVerbFlags>();
  app.set_config("--config", "", "Read options from this file (INI or TOML: key = value)");
  app.add_option("--store", f->store, "Store URL (sqlite:PATH, postgresql://...)")
      ->capture_default_str();
  f->agent.Declare(app, true);
  app.add_option("--secret-file", f->agent.secret_file,
                 "File holding the secret shared with the metadata API")
      ->required();
  app.add_option("--threads", f->threads, "Threads serving HTTP (default: one per core)");
  app.add_option("--store-threads", f->store_threads, "Threads making store calls")
      ->capture_default_str();
  f->limits.Declare(app);
  app.add_option("--log-level", f->log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.footer(
      "Names the instance behind each request the ns-proxy forwards (X-Forwarded-For + the\n"
      "router or network id -> port -> instance) and forwards it to the metadata API, signed.");
  return [f] { return RunAgent(*f); };
}

Run SetupProxy(CLI::App& app) {
  auto f = std::make_shared<ProxyVerbFlags>();
  app.set_config("--config", "", "Read options from this file (INI or TOML: key = value)");
  f->proxy.Declare(app, true);
  app.add_option("--threads", f->threads, "Threads serving HTTP (default: one per core)");
  f->limits.Declare(app);
  app.add_option("--log-level", f->log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.footer(
      "Holds listeners inside many router and DHCP namespaces from one process; each request\n"
      "loses every identity header the guest sent and gains X-Forwarded-For and the namespace's\n"
      "X-Neutron-Router-ID or X-Neutron-Network-ID on its way to the agent.");
  return [f] { return RunProxy(*f); };
}

Run SetupProxyCtl(CLI::App& app) {
  struct F {
    std::string control = "/run/metastack/proxy.sock";
    std::string name, netns, kind = "router", id, address;
    int port = -1;
  };
  auto f = std::make_shared<F>();
  auto run = std::make_shared<Run>();
  app.require_subcommand(1);
  app.add_option("--control", f->control, "The proxy's control socket")->capture_default_str();
  auto call = [f](std::string method, std::string target, std::string body) {
    auto res = http::Fetch("unix:" + f->control,
                           {method, target, {{"Content-Type", "application/json"}}, body});
    if (!res) return Fail(res.error());
    if (res->status >= 400) {
      return Fail(ErrorBodyMessage(nlohmann::json::parse(res->body, nullptr, false), res->body));
    }
    if (!res->body.empty()) std::cout << nlohmann::json::parse(res->body).dump(2) << "\n";
    return kExitOk;
  };
  CLI::App* add = app.add_subcommand("add", "Open a listener in a namespace");
  add->add_option("--name", f->name, "Unique name, e.g. qrouter-<id>")->required();
  add->add_option("--netns", f->netns, "Namespace to bind in ('' for the proxy's own)");
  add->add_option("--kind", f->kind, "router or network")
      ->check(CLI::IsMember({"router", "network"}));
  add->add_option("--id", f->id, "Router or network id stamped on requests")->required();
  add->add_option("--address", f->address, "Address to bind (default by kind)");
  add->add_option("--port", f->port, "Port to bind (default by kind)");
  add->callback([=] {
    *run = [=] {
      nlohmann::json j = {{"name", f->name}, {"netns", f->netns}, {"kind", f->kind}, {"id", f->id}};
      if (!f->address.empty()) j["address"] = f->address;
      if (f->port >= 0) j["port"] = f->port;
      return call("POST", "/listeners", j.dump());
    };
  });
  CLI::App* remove = app.add_subcommand("remove", "Close a listener");
  remove->add_option("NAME", f->name, "Listener name")->required();
  remove->callback([=] { *run = [=] { return call("DELETE", "/listeners/" + f->name, ""); }; });
  CLI::App* list = app.add_subcommand("list", "List open listeners");
  list->callback([=] { *run = [=] { return call("GET", "/listeners", ""); }; });
  return [run] { return (*run)(); };
}

struct ServeFlags {
  std::string store = "sqlite:/var/lib/metastack/metastack.db";
  std::string api_listen = "127.0.0.1:8775";
  std::vector<std::string> source_listen;
  std::string admin_listen = "127.0.0.1:8776";
  std::string admin_token_file;
  std::string dhcp_domain = "novalocal";
  AgentFlags agent;
  ProxyFlags proxy;
  size_t threads = 0, store_threads = 4;
  LimitFlags limits;
  RateLimitFlags rate_limit;
  AdminLimitFlags admin_limits;
  std::string ready_file;
  std::string log_level = "info";
};

// The agent's signing secret: from --secret-file, else a fresh one per run (all hops are in
// this process).
std::string ServeSecret(const ServeFlags& f) {
  if (!f.agent.secret_file.empty()) return ReadSecretFile(f.agent.secret_file);
  uint8_t bytes[32];
  SystemRandom(bytes);
  return core::Base64Encode(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
}

int RunServe(const ServeFlags& f) {
  SetLogLevelFlag(f.log_level);
  auto listeners = LoadListeners(f.proxy.listeners_file, f.proxy.listen);
  const std::string secret = ServeSecret(f);
  auto store = store::OpenStore(f.store);
  if (!store) throw std::runtime_error(store.error().ToString());
  asio::io_context ioc;
  asio::thread_pool pool(f.store_threads);
  http::Metrics metrics;
  api::ApiOptions api_options;
  api_options.settings.dhcp_domain = f.dhcp_domain;
  api_options.settings.today = TodayUtc();
  api_options.shared_secret = secret;
  api_options.rate_limit = f.rate_limit.Build();
  http::ServerLimits limits = f.limits.Build();
  api::MetadataApi api(**store, pool, api_options, metrics);
  http::Server guest(ioc, limits, nullptr, &metrics);
  http::Server internal(ioc, http::ServerLimits{}, nullptr, &metrics);
  http::Server admin_server(ioc, f.admin_limits.Build(), nullptr, &metrics);
  auto [api_host, api_port] = ParseHostPort(f.api_listen, "--api-listen");
  auto api_ep = internal.ListenTcp(api_host, api_port, api.Handler(api::Identification::kSigned),
                                   nullptr, http::PeerLimit::kTotalOnly);
  if (!api_ep) throw std::runtime_error(api_ep.error().ToString());
  for (const auto& l : f.source_listen) {
    auto [host, port] = ParseHostPort(l, "--source-listen");
    auto ep = guest.ListenTcp(host, port, api.Handler(api::Identification::kSourceAddress));
    if (!ep) throw std::runtime_error(ep.error().ToString());
  }
  auto agent_up =
      http::MakeUpstream("http://" + api_host + ":" + std::to_string(api_ep->port()), {});
  if (!agent_up) throw std::runtime_error(agent_up.error().ToString());
  agent::MetadataAgent agent(**store, pool, *agent_up, agent::AgentOptions{secret}, metrics);
  EnsureParentDir(f.agent.socket);
  if (auto st =
          internal.ListenUnix(f.agent.socket, ParseMode(f.agent.socket_mode), agent.Handler());
      !st)
    throw std::runtime_error(st.error().ToString());
  auto proxy_up = http::MakeUpstream("unix:" + f.agent.socket, {});
  proxy::NsProxy ns_proxy(guest, *proxy_up, NamespaceBinder(), metrics);
  EnsureParentDir(f.proxy.control);
  if (auto st = internal.ListenUnix(f.proxy.control, 0600, ns_proxy.ControlHandler()); !st)
    throw std::runtime_error(st.error().ToString());
  if (auto st = ns_proxy.Reconcile(listeners); !st) throw std::runtime_error(st.error().ToString());
  api::OpsEndpoints ops(**store, pool, metrics, &api, &guest);
  nlohmann::json ready = {{"api", api_ep->port()}};
  if (!f.admin_listen.empty()) {
    auto [host, port] = ParseHostPort(f.admin_listen, "--admin-listen");
    std::string token = f.admin_token_file.empty() ? "" : ReadSecretFile(f.admin_token_file, 16);
    auto ep = admin_server.ListenTcp(host, port,
                                     admin::MakeAdminHandler(**store, pool, token, ops.Handler()));
    if (!ep) throw std::runtime_error(ep.error().ToString());
    ready["admin"] = ep->port();
  }
  ready["proxy"] = ns_proxy.List()["listeners"];
  LogInfo("serve", "API on " + f.api_listen + ", agent on " + f.agent.socket +
                       ", proxy control on " + f.proxy.control + ", " +
                       std::to_string(listeners.size()) + " proxy listeners");
  WriteReadyFile(f.ready_file, ready.dump());
  RunUntilSignalled(
      ioc, f.threads,
      [&] {
        guest.Stop();
        internal.Stop();
        admin_server.Stop();
      },
      [&] {
        try {
          ns_proxy.ReconcileInBackground(LoadListeners(f.proxy.listeners_file, f.proxy.listen));
        } catch (const std::exception& e) {
          LogError("serve", std::string("reload refused: ") + e.what());
        }
      });
  pool.join();
  return kExitOk;
}

Run SetupServe(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  app.set_config("--config", "", "Read options from this file (INI or TOML: key = value)");
  app.add_option("--store", f->store, "Store URL (sqlite:PATH, postgresql://..., memory:)")
      ->capture_default_str();
  app.add_option("--api-listen", f->api_listen, "HOST:PORT of the signed metadata API (loopback)")
      ->capture_default_str();
  app.add_option("--source-listen", f->source_listen,
                 "HOST:PORT identifying guests by source address (flat networks); repeatable");
  app.add_option("--admin-listen", f->admin_listen,
                 "HOST:PORT of the admin API, /healthz, /metrics")
      ->capture_default_str();
  app.add_option("--admin-token-file", f->admin_token_file, "Bearer token of the admin API");
  f->admin_limits.Declare(app);
  app.add_option("--secret-file", f->agent.secret_file,
                 "Secret shared by agent and API (default: a random one per run)");
  app.add_option("--dhcp-domain", f->dhcp_domain, "Domain appended to hostnames ('' for none)")
      ->capture_default_str();
  f->agent.Declare(app, false);
  f->proxy.Declare(app, false);
  app.add_option("--threads", f->threads, "Threads serving HTTP (default: one per core)");
  app.add_option("--store-threads", f->store_threads, "Threads making store calls")
      ->capture_default_str();
  f->limits.Declare(app);
  f->rate_limit.Declare(app);
  app.add_option("--ready-file", f->ready_file,
                 "Write the bound ports here as JSON once listening");
  app.add_option("--log-level", f->log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str();
  app.footer(
      "The whole metadata path in one process for small deployments: ns-proxy listeners in\n"
      "router/DHCP namespaces -> metadata agent (UNIX socket) -> metadata API, plus the admin "
      "API.");
  return [f] { return RunServe(*f); };
}

}  // namespace

Run SetupAgentVerb(CLI::App& app) { return SetupAgent(app); }
Run SetupProxyVerb(CLI::App& app) { return SetupProxy(app); }
Run SetupProxyCtlVerb(CLI::App& app) { return SetupProxyCtl(app); }
Run SetupServeVerb(CLI::App& app) { return SetupServe(app); }

}  // namespace metastack::cli
