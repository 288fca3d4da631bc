#include "daemon/config.h"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "base/file.h"
#include "base/log.h"
#include "core/identity.h"
#include "core/ip.h"
#include "core/session_token.h"
#include "daemon/config_file.h"
#include "http/url.h"

namespace metastack::daemon {
namespace {

std::runtime_error Bad(const std::string& flag, const std::string& message) {
  return std::runtime_error(flag + ": " + message);
}

// An option of `section` (its CLI11 group, the file's table), its default shown in --help.
template <typename T>
CLI::Option* Add(CLI::App& app, const char* section, const std::string& name, T& value,
                 const std::string& help) {
  return app.add_option(name, value, help)->capture_default_str()->group(section);
}

void DeclareGeneral(CLI::App& app, GeneralConfig& c, const Components& run) {
  const bool store = run.api || run.agent;
  if (store || run.proxy)
    Add(app, kGeneral, "--store", c.store,
        store ? "Store URL: sqlite:PATH, postgresql://..., memory:"
              : "Store URL (sqlite:PATH, postgresql://...) the namespace manager follows; "
                "used only with --manage");
  if (run.proxy)
    Add(app, kGeneral, "--host", c.host,
        "This host's name: --manage serves the routers and networks assigned to it (and those "
        "assigned to none). Default: the system's host name");
  if (run.api || run.agent)
    Add(app, kGeneral, "--secret-file", c.secret_file,
        run.api && run.agent
            ? "File holding the secret that signs instance ids between the agent and "
              "the API (HMAC-SHA256 key). Needed for the signed listener; without it "
              "the in-process agent and API share a random one per run"
            : "File holding the secret shared by the metadata agent and the metadata "
              "API (HMAC-SHA256 key)");
  Add(app, kGeneral, "--threads", c.threads, "Threads serving HTTP (default: one per core)");
  if (store) Add(app, kGeneral, "--store-threads", c.store_threads, "Threads making store calls");
  app.add_option("--log-level", c.log_level,
                 "debug, info, warning or error (applied again on SIGHUP)")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}))
      ->capture_default_str()
      ->group(kGeneral);
  app.add_flag("--access-log,!--no-access-log", c.access_log,
               "Log one line per guest request: listener, guest address, instance, method, path, "
               "status, milliseconds")
      ->group(kGeneral);
  Add(app, kGeneral, "--ready-file", c.ready_file,
      "Write the bound ports here as JSON once listening (for supervisors and tests)");
  app.add_flag("--check", c.check,
               "Check the configuration (flags, file, secret and listener files) and exit: 0 "
               "when it would start")
      ->group(kGeneral)
      ->configurable(false);
}

void DeclareApi(CLI::App& app, ApiConfig& c, const Components& run) {
  Add(app, kApi, "--signed-listen" + std::string(run.agent ? ",--api-listen" : ""), c.signed_listen,
      run.agent ? "HOST:PORT for requests signed by a metadata agent of another "
                  "process (X-Instance-ID, X-Tenant-ID, X-Instance-ID-Signature), e.g. "
                  "Neutron's; repeatable; needs --secret-file. None by default: this "
                  "process's own agent calls its API directly"
                : "HOST:PORT for requests signed by the metadata agent (X-Instance-ID, "
                  "X-Tenant-ID, X-Instance-ID-Signature); repeatable. Default "
                  "0.0.0.0:8775 when no listener is given");
  Add(app, kApi, "--source-listen", c.source_listen,
      "HOST:PORT identifying callers by source address (flat networks, or "
      "169.254.169.254:80 itself); repeatable");
  Add(app, kApi, "--trusted-proxy", c.trusted_proxies,
      "Address or CIDR of a proxy whose X-Forwarded-For names the caller "
      "(source-address listeners); repeatable");
  Add(app, kApi, "--network", c.networks,
      "Network searched for callers of source-address listeners; repeatable "
      "(default: all networks)");
  Add(app, kApi, "--dhcp-domain", c.dhcp_domain, "Domain appended to hostnames ('' for none)");
  Add(app, kApi, "--vendor-data", c.vendor_data_file,
      "JSON file of vendor data for instances whose document has none (re-read on "
      "SIGHUP)");
  Add(app, kApi, "--cache-instances", c.cache_instances,
      "Instances whose rendered metadata is kept in memory");
  app.add_flag("--check-forwarded-address,!--no-check-forwarded-address", c.check_forwarded_address,
               "Signed listeners: answer 404 when the signed instance does not own the "
               "X-Forwarded-For address the agent forwards (a stale port cache in front must not "
               "cross tenants). On by default")
      ->group(kApi);
  Add(app, kApi, "--rate-limit", c.rate,
      "Metadata requests per second per instance, once the instance is identified "
      "(its IPv4 and IPv6 addresses share one budget); over it the answer is 429 "
      "with Retry-After. 0 disables. cloud-init's boot is ~30 requests");
  Add(app, kApi, "--rate-burst", c.burst,
      "Requests an instance may make at once after a quiet period (the bucket size)");
  Add(app, kApi, "--vendordata-dynamic-targets", c.vendordata_dynamic_targets,
      "A dynamic vendor data target NAME@http://HOST[:PORT]/PATH, as Nova's "
      "vendordata_dynamic_targets: POSTed Nova's request for each instance, its JSON answer "
      "served in vendor_data2.json under NAME; repeatable (needs a restart)");
  Add(app, kApi, "--vendordata-dynamic-connect-timeout", c.vendordata_dynamic_connect_timeout,
      "Seconds to connect to a dynamic vendor data target");
  Add(app, kApi, "--vendordata-dynamic-read-timeout", c.vendordata_dynamic_read_timeout,
      "Seconds for a dynamic vendor data target's whole answer once connected");
  Add(app, kApi, "--watch-max-timeout", c.watch_max_timeout,
      "Seconds a ?wait_for_change=true request may wait at most (a longer timeout_sec is "
      "cut to it); 1 to 3600");
  Add(app, kApi, "--watchers-per-instance", c.watchers_per_instance,
      "wait_for_change requests one instance may have waiting at once; beyond: 429");
  Add(app, kApi, "--watchers", c.watchers,
      "wait_for_change requests that may wait at once in all; beyond: 429");
  Add(app, kApi, "--http-tokens", c.http_tokens,
      "IMDSv2 session policy of instances whose document and networks set none: optional "
      "(tokenless requests served) or required (tokenless requests 401)");
  Add(app, kApi, "--token-keys-file", c.token_keys_file,
      "File of session token keys, one \"ID HEX\" a line (the first issues, all verify); "
      "default: a key derived from --secret-file, shared by every node with that secret");
  Add(app, kApi, "--identity-key-file", c.identity_key_file,
      "PEM RSA private key signing the EC2 instance identity document "
      "(/latest/dynamic/instance-identity/); with --identity-certificate-file (needs a restart)");
  Add(app, kApi, "--identity-certificate-file", c.identity_certificate_file,
      "PEM certificate of --identity-key-file's public key, which guests verify the identity "
      "document's signatures against");
  Add(app, kApi, "--api-tls-cert-file", c.tls_cert_file,
      "PEM certificate (then its intermediate CAs) the signed listeners serve TLS with "
      "(TLS 1.2+; with --api-tls-key-file). Re-read on SIGHUP: new connections get the new "
      "one, open ones keep theirs. Source-address listeners stay plain HTTP (guests speak http)");
  Add(app, kApi, "--api-tls-key-file", c.tls_key_file,
      "PEM private key of --api-tls-cert-file (re-read on SIGHUP)");
  Add(app, kApi, "--api-tls-client-ca-file", c.tls_client_ca_file,
      "PEM CA certificates: with it, the signed listeners accept only clients (metadata agents) "
      "presenting a certificate these CAs signed (mutual TLS)");
}

void DeclareAdmin(CLI::App& app, AdminConfig& c) {
  Add(app, kAdmin, "--admin-listen", c.listen,
      "HOST:PORT for the admin API, /healthz and /metrics ('' to disable); never guest-facing");
  Add(app, kAdmin, "--admin-token-file", c.token_file,
      "File with the bearer token of the admin API (/v1/...); without it the admin "
      "API refuses every request");
  Add(app, kAdmin, "--admin-body-limit", c.body_limit,
      "Bytes of request body on the admin listener (default: the largest instance "
      "document the format allows)");
  Add(app, kAdmin, "--admin-tls-cert-file", c.tls_cert_file,
      "PEM certificate (then its intermediate CAs) the admin listener serves TLS with "
      "(TLS 1.2+; with --admin-tls-key-file; re-read on SIGHUP)");
  Add(app, kAdmin, "--admin-tls-key-file", c.tls_key_file,
      "PEM private key of --admin-tls-cert-file (re-read on SIGHUP)");
  Add(app, kAdmin, "--admin-tls-client-ca-file", c.tls_client_ca_file,
      "PEM CA certificates: with it, the admin listener accepts only clients presenting a "
      "certificate these CAs signed (mutual TLS), besides the bearer token");
}

void DeclareOps(CLI::App& app, OpsConfig& c) {
  Add(app, kOps, "--ops-listen", c.listen,
      "HOST:PORT answering GET /healthz and /metrics for every component this "
      "process runs ('' for none); never guest-facing");
}

void DeclareAgent(CLI::App& app, AgentConfig& c, const Components& run) {
  Add(app, kAgent, "--agent-socket", c.socket,
      run.proxy ? "UNIX socket of the metadata agent, for proxies of other processes "
                  "(Neutron's haproxy); this process's own proxy calls the agent "
                  "directly. Also what makes a second daemon on this host refuse to "
                  "start"
                : "UNIX socket the ns-proxy connects to");
  Add(app, kAgent, "--agent-socket-mode", c.socket_mode, "Permissions of that socket (octal)");
  if (!run.api) {
    Add(app, kAgent, "--api-url", c.api_url,
        "The metadata API (ours or Nova's nova-api-metadata): http://HOST:PORT or "
        "https://HOST:PORT (TLS 1.2+, its certificate checked against HOST)");
    Add(app, kAgent, "--api-timeout", c.api_timeout,
        "Seconds to wait for the metadata API's answer");
    Add(app, kAgent, "--api-ca-file", c.api_ca_file,
        "PEM CA certificates an https --api-url's certificate must chain to (default: the "
        "system's CA store); as Neutron's auth_ca_cert");
    Add(app, kAgent, "--api-cert-file", c.api_cert_file,
        "PEM client certificate presented to an https --api-url that asks for one (mutual TLS; "
        "with --api-key-file); as Neutron's nova_client_cert");
    Add(app, kAgent, "--api-key-file", c.api_key_file,
        "PEM private key of --api-cert-file; as Neutron's nova_client_priv_key");
    app.add_flag("--api-insecure,!--no-api-insecure", c.api_insecure,
                 "FOR TESTS ONLY: accept any certificate from an https --api-url, "
                 "unverified (as Neutron's nova_metadata_insecure); anyone on the path can "
                 "then read and change every guest's metadata")
        ->group(kAgent);
  }
  Add(app, kAgent, "--agent-cache-entries", c.cache_entries,
      "Port lookups the agent keeps (the store's change feed clears them)");
}

void DeclareProxy(CLI::App& app, ProxyConfig& c, const Components& run) {
  if (!run.agent) {
    Add(app, kProxy, "--agent", c.agent_url, "The metadata agent: unix:PATH or http://HOST:PORT");
    Add(app, kProxy, "--agent-timeout", c.agent_timeout, "Seconds to wait for the agent's answer");
  }
  Add(app, kProxy, "--control", c.control,
      "UNIX socket (mode 0600) of the control API: GET/POST /listeners, "
      "DELETE /listeners/NAME, GET /metrics");
  Add(app, kProxy, "--listeners", c.listeners_file,
      "JSON file {\"listeners\": [{name, netns, kind, id, address, port}]}");
  Add(app, kProxy, "--listen", c.listen,
      "A listener NAME,NETNS,router|network,ID[,ADDRESS,PORT]; repeatable. Router "
      "listeners default to [::]:9697, network listeners to 169.254.169.254:80. "
      "SIGHUP re-reads these and --listeners and opens and closes listeners to match; "
      "listeners added with proxy-ctl stay");
  app.add_flag("--manage,!--no-manage", c.manage,
               "Follow the store: serve every router and network of this host (--host) or of "
               "none in its namespace as soon as both exist, and stop when either goes: router "
               "metadata rules and a listener on [::]:ROUTER-PORT; for a network without a "
               "router, 169.254.169.254/32 on its DHCP port, optionally a dnsmasq, and a "
               "listener on 169.254.169.254:80. On/off needs a restart; the other manage "
               "settings apply on SIGHUP")
      ->group(kProxy);
  Add(app, kProxy, "--router-namespace", c.router_namespace,
      "The namespace of router {id} (--manage); Neutron's L3 agent names it qrouter-{id}");
  Add(app, kProxy, "--network-namespace", c.network_namespace,
      "The DHCP namespace of network {id} (--manage); Neutron's DHCP agent names it qdhcp-{id}");
  app.add_flag("--force-metadata,!--no-force-metadata", c.force_metadata,
               "--manage: serve metadata in the DHCP namespace of every network, also those with "
               "a router (Neutron's force_metadata); default: networks without a router only "
               "(Neutron's enable_isolated_metadata)")
      ->group(kProxy);
  Add(app, kProxy, "--dhcp-server", c.dhcp_server,
      "--manage, DHCP namespaces: none (another DHCP server, such as Neutron's dnsmasq, hands "
      "out option 121) or dnsmasq (run one per namespace with the store's ports on the network "
      "as static hosts and Neutron's metadata route, refreshed as ports change)")
      ->check(CLI::IsMember({"none", "dnsmasq"}));
  Add(app, kProxy, "--dhcp-interface-prefix", c.dhcp_interface_prefix,
      "--manage: the DHCP port's interface in a DHCP namespace is the one named with this "
      "prefix (e.g. tap or ns-) that has an IPv4 address; empty: the only interface other than "
      "lo with one");
  Add(app, kProxy, "--dhcp-state-dir", c.dhcp_state_dir,
      "--manage: where the DHCP namespaces' records and dnsmasq files are kept (each "
      "directory above it must be searchable by others: dnsmasq runs as nobody)");
  Add(app, kProxy, "--router-port", c.router_port,
      "--manage: the port the router namespaces' listener binds and the metadata rules "
      "redirect 169.254.169.254:80 to (Neutron's 9697)");
  Add(app, kProxy, "--resync-interval", c.resync_interval,
      "--manage: seconds between full resyncs with the store and the namespaces, which catch "
      "anything the change feed and inotify missed and put back what someone removed");
}

void DeclareConfigDrive(CLI::App& app, ConfigDriveConfig& c) {
  Add(app, kConfigDrive, "--configdrive-dir", c.dir,
      "Keep a config drive DIR/UUID.EXT current for every instance that wants one (its document's "
      "config_drive, or all with --configdrive-all), rebuilt at each change the store "
      "announces and removed with the instance; the directory must exist ('' for none)");
  app.add_flag("--configdrive-all,!--no-configdrive-all", c.all,
               "--configdrive-dir: every instance gets a drive, whatever its config_drive says "
               "(Nova's force_config_drive)")
      ->group(kConfigDrive);
  Add(app, kConfigDrive, "--configdrive-format", c.format,
      "--configdrive-dir: iso (config-2, ISO9660; Nova's default), vfat (config-2), nocloud "
      "(cidata, ISO9660) or nocloud-vfat (cidata, VFAT)");
  Add(app, kConfigDrive, "--configdrive-disk-format", c.disk_format,
      "--configdrive-dir: the disk container: raw, qcow2, vhd, vhdx or vmdk; the file is UUID.iso "
      "(raw ISO9660), UUID.img (raw VFAT) or UUID.<disk format>");
  Add(app, kConfigDrive, "--configdrive-vfat-size", c.vfat_size,
      "--configdrive-dir: MiB of a VFAT drive, 1 to 32768 (Nova's 64)");
  Add(app, kConfigDrive, "--configdrive-seed-file", c.seed_file,
      "--configdrive-dir: file holding the secret build seed of random_seed (the same drive "
      "bytes for the same document); without it random_seed comes from the OS at each build");
}

void DeclareLimits(CLI::App& app, LimitsConfig& c) {
  auto add = [&](const char* name, auto& value, const char* help) {
    Add(app, kLimits, name, value, help);
  };
  add("--max-connections", c.max_connections, "Open connections in total");
  add("--max-connections-per-listener", c.max_connections_per_listener,
      "Open connections per guest-facing listener (each router or DHCP namespace the proxy "
      "listens in; each --source-listen of the API)");
  add("--reserved-connections", c.reserved_connections,
      "Connections of --max-connections kept for guest-facing listeners below their fair share "
      "(the total divided by the number of such listeners). A listener at or over its share is "
      "refused once the total reaches max-connections minus this, so however many connections "
      "some listeners hold, a listener below its share is refused only when the total is full "
      "and listeners below their share hold part of this reserve");
  add("--max-connections-per-address", c.max_connections_per_address,
      "Open connections per source address on each guest-facing listener (the same address "
      "behind another router is another guest); not on the signed listener, whose peers are "
      "metadata agents, nor on UNIX sockets");
  add("--header-limit", c.header_limit, "Bytes of request line and headers");
  add("--body-limit", c.body_limit, "Bytes of request body");
  add("--request-timeout", c.request_timeout,
      "Seconds for a whole request to arrive once it has started");
  add("--idle-timeout", c.idle_timeout, "Seconds a connection may wait between requests");
  add("--drain-timeout", c.drain_timeout,
      "On SIGTERM: seconds requests in flight may take to finish before their connections are "
      "closed");
}

}  // namespace

std::chrono::milliseconds Milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

void Declare(CLI::App& app, DaemonConfig& config) {
  DeclareConfigFile(app, config.config_file);
  DeclareGeneral(app, config.general, config.run);
  if (config.run.api) {
    DeclareApi(app, config.api, config.run);
    DeclareAdmin(app, config.admin);
    DeclareConfigDrive(app, config.configdrive);
  }
  DeclareOps(app, config.ops);
  if (config.run.agent) DeclareAgent(app, config.agent, config.run);
  if (config.run.proxy) DeclareProxy(app, config.proxy, config.run);
  DeclareLimits(app, config.limits);
}

http::ServerLimits BuildLimits(const LimitsConfig& c) {
  if (c.max_connections == 0) throw Bad("--max-connections", "must be at least 1");
  if (c.max_connections_per_listener == 0)
    throw Bad("--max-connections-per-listener", "must be at least 1");
  if (c.max_connections_per_address == 0)
    throw Bad("--max-connections-per-address", "must be at least 1");
  if (c.reserved_connections >= c.max_connections)
    throw std::runtime_error("--reserved-connections (" + std::to_string(c.reserved_connections) +
                             ") must be below --max-connections (" +
                             std::to_string(c.max_connections) + ")");
  for (auto [flag, v] : {std::pair{"--request-timeout", c.request_timeout},
                         {"--idle-timeout", c.idle_timeout},
                         {"--drain-timeout", c.drain_timeout}})
    if (!(v > 0)) throw Bad(flag, "must be more than 0 seconds");
  http::ServerLimits l;
  l.max_connections = c.max_connections;
  l.max_connections_per_listener = c.max_connections_per_listener;
  l.reserved_connections = c.reserved_connections;
  l.max_connections_per_address = c.max_connections_per_address;
  l.header_bytes = c.header_limit;
  l.body_bytes = c.body_limit;
  l.request_timeout = Milliseconds(c.request_timeout);
  l.idle_timeout = Milliseconds(c.idle_timeout);
  return l;
}

http::RateLimit BuildRateLimit(const ApiConfig& c) {
  if (!(c.rate >= 0)) throw Bad("--rate-limit", "must be 0 (off) or more");
  if (c.rate > 0 && !(c.burst >= 1)) throw Bad("--rate-burst", "must be at least 1");
  http::RateLimit r;
  r.rate = c.rate;
  r.burst = c.burst;
  return r;
}

namespace {

// Both files or neither: the document is only served signed both ways.
std::shared_ptr<const core::IdentitySigner> BuildIdentitySigner(const ApiConfig& c) {
  if (c.identity_key_file.empty() && c.identity_certificate_file.empty()) return nullptr;
  if (c.identity_certificate_file.empty())
    throw Bad("--identity-key-file", "needs --identity-certificate-file");
  if (c.identity_key_file.empty())
    throw Bad("--identity-certificate-file", "needs --identity-key-file");
  auto key = ReadFile(c.identity_key_file);
  if (!key) throw Bad("--identity-key-file", key.error().ToString());
  auto certificate = ReadFile(c.identity_certificate_file);
  if (!certificate) throw Bad("--identity-certificate-file", certificate.error().ToString());
  auto signer = core::IdentitySigner::Make(*key, *certificate);
  if (!signer)
    throw std::runtime_error("--identity-key-file " + c.identity_key_file +
                             ", --identity-certificate-file " + c.identity_certificate_file + ": " +
                             signer.error().message);
  return std::move(*signer);
}

}  // namespace

api::ApiOptions BuildApiOptions(const ApiConfig& c) {
  api::ApiOptions options;
  options.settings.dhcp_domain = c.dhcp_domain;
  options.settings.today = TodayUtc();
  for (const auto& n : c.networks)
    if (!n.empty()) options.networks.push_back(n);
  options.cache_instances = c.cache_instances;
  options.check_forwarded_address = c.check_forwarded_address;
  options.rate_limit = BuildRateLimit(c);
  if (!(c.watch_max_timeout >= 1 && c.watch_max_timeout <= http::kMaxWaitSeconds))
    throw Bad("--watch-max-timeout",
              "must be 1 to " + std::to_string(http::kMaxWaitSeconds) + " seconds");
  if (c.watchers_per_instance < 1) throw Bad("--watchers-per-instance", "must be at least 1");
  if (c.watchers < 1) throw Bad("--watchers", "must be at least 1");
  options.watch.max_timeout = std::chrono::seconds(static_cast<int64_t>(c.watch_max_timeout));
  options.watch.per_instance = c.watchers_per_instance;
  options.watch.total = c.watchers;
  if (!c.vendor_data_file.empty()) {
    auto text = ReadFile(c.vendor_data_file);
    if (!text) throw Bad("--vendor-data", text.error().ToString());
    auto j = core::Json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw Bad("--vendor-data", c.vendor_data_file + ": not a JSON object");
    options.settings.vendor_data = std::move(j);
  }
  for (auto [flag, v] :
       {std::pair{"--vendordata-dynamic-connect-timeout", c.vendordata_dynamic_connect_timeout},
        {"--vendordata-dynamic-read-timeout", c.vendordata_dynamic_read_timeout}})
    if (!(v > 0)) throw Bad(flag, "must be more than 0 seconds");
  options.vendordata.connect_timeout = Milliseconds(c.vendordata_dynamic_connect_timeout);
  options.vendordata.read_timeout = Milliseconds(c.vendordata_dynamic_read_timeout);
  for (const auto& text : c.vendordata_dynamic_targets) {
    if (text.empty()) continue;  // '' (or [] in the file): none
    auto target = api::ParseVendorDataTarget(text);
    if (!target) throw Bad("--vendordata-dynamic-targets", target.error().message);
    for (const auto& earlier : options.vendordata.targets)
      if (earlier.name == target->name)
        throw Bad("--vendordata-dynamic-targets", "the name " + target->name + " is given twice");
    options.vendordata.targets.push_back(*target);
  }
  options.identity = BuildIdentitySigner(c);
  for (const auto& p : c.trusted_proxies) {
    if (p.empty()) continue;  // '' (or [] in the file): none
    auto cidr = core::ParseCidr(p.find('/') == std::string::npos
                                    ? p + (p.find(':') == std::string::npos ? "/32" : "/128")
                                    : p);
    if (!cidr) throw Bad("--trusted-proxy", "not an address or CIDR: " + p);
    options.trusted_proxies.push_back(*cidr);
  }
  auto policy = core::ParseHttpTokens(c.http_tokens);
  if (!policy)
    throw Bad("--http-tokens", "expected optional or required, not '" + c.http_tokens + "'");
  options.http_tokens = *policy;
  if (!c.token_keys_file.empty()) {
    auto text = ReadFile(c.token_keys_file);
    if (!text) throw Bad("--token-keys-file", text.error().ToString());
    auto keys = core::ParseTokenKeys(*text);
    if (!keys) throw Bad("--token-keys-file", c.token_keys_file + ": " + keys.error().ToString());
    options.token_keys = std::move(*keys);
  }
  return options;
}

namespace {

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
    throw Bad("--listen", "expected NAME,NETNS,router|network,ID[,ADDRESS,PORT]: " + text);
  nlohmann::json j = {
      {"name", parts[0]}, {"netns", parts[1]}, {"kind", parts[2]}, {"id", parts[3]}};
  if (parts.size() == 6) {
    size_t used = 0;
    unsigned long port = 0;
    try {
      port = std::stoul(parts[5], &used);
    } catch (...) {
    }
    if (used == 0 || used != parts[5].size() || port > 65535)
      throw Bad("--listen", "bad port in " + text);
    j["address"] = parts[4];
    j["port"] = static_cast<uint64_t>(port);
  }
  auto spec = proxy::ListenerFromJson(j);
  if (!spec) throw Bad("--listen", text + ": " + spec.error().ToString());
  return *spec;
}

}  // namespace

std::vector<proxy::ListenerSpec> BuildListeners(const ProxyConfig& c) {
  std::vector<proxy::ListenerSpec> out;
  if (!c.listeners_file.empty()) {
    auto text = ReadFile(c.listeners_file);
    if (!text) throw Bad("--listeners", text.error().ToString());
    auto parsed = proxy::ParseListenersFile(*text);
    if (!parsed) throw Bad("--listeners", c.listeners_file + ": " + parsed.error().ToString());
    out = *parsed;
  }
  for (const auto& s : c.listen)
    if (!s.empty()) out.push_back(ParseListenFlag(s));
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (out[i].name == out[j].name)
        throw Bad("--listen", "listener name " + out[i].name + " given twice");
  return out;
}

std::optional<netns_manager::Settings> BuildManageSettings(const DaemonConfig& c) {
  if (!c.run.proxy || !c.proxy.manage) return std::nullopt;
  const ProxyConfig& p = c.proxy;
  netns_manager::Settings s;
  s.host = c.general.host;
  if (s.host.empty()) {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0)
      throw Bad("--host", "not given, and gethostname failed");
    s.host = name;
  }
  s.router_namespace = p.router_namespace;
  s.network_namespace = p.network_namespace;
  s.force_metadata = p.force_metadata;
  auto server = netns_manager::ParseDhcpServer(p.dhcp_server);
  if (!server) throw Bad("--dhcp-server", "expected none or dnsmasq: " + p.dhcp_server);
  s.dhcp_server = *server;
  s.dhcp_interface_prefix = p.dhcp_interface_prefix;
  s.dhcp_state_dir = p.dhcp_state_dir;
  s.router_port = p.router_port;
  if (!(p.resync_interval >= 1)) throw Bad("--resync-interval", "must be at least 1 second");
  s.resync_interval = Milliseconds(p.resync_interval);
  if (auto valid = netns_manager::ValidateSettings(s); !valid)
    throw std::runtime_error(valid.error().ToString());
  return s;
}

std::optional<drives::KeeperSettings> BuildKeeperSettings(const DaemonConfig& c) {
  const ConfigDriveConfig& d = c.configdrive;
  if (!c.run.api || d.dir.empty()) return std::nullopt;
  drives::KeeperSettings s;
  std::error_code ec;
  if (!std::filesystem::is_directory(d.dir, ec))
    throw Bad("--configdrive-dir", "not a directory: " + d.dir);
  s.dir = d.dir;
  s.all = d.all;
  auto layout = configdrive::ParseDriveLayout(d.format);
  if (!layout)
    throw Bad("--configdrive-format",
              "expected iso, vfat, nocloud or nocloud-vfat, not '" + d.format + "'");
  s.spec.layout = *layout;
  auto disk = configdrive::ParseDiskFormat(d.disk_format);
  if (!disk)
    throw Bad("--configdrive-disk-format",
              "expected raw, qcow2, vhd, vhdx or vmdk, not '" + d.disk_format + "'");
  s.spec.disk = *disk;
  if (d.vfat_size < 1 || d.vfat_size > 32768)
    throw Bad("--configdrive-vfat-size", "must be 1 to 32768 MiB");
  s.spec.vfat_size = uint64_t{d.vfat_size} << 20;
  if (!d.seed_file.empty()) {
    try {
      s.spec.seed = ReadSecretFile(d.seed_file);
    } catch (const std::exception& e) {
      throw Bad("--configdrive-seed-file", e.what());
    }
  }
  return s;
}

std::shared_ptr<http::TlsServer> BuildTlsServer(const std::string& prefix, const std::string& cert,
                                                const std::string& key,
                                                const std::string& client_ca) {
  const std::string cert_flag = prefix + "-tls-cert-file";
  if (cert.empty() && key.empty() && client_ca.empty()) return nullptr;
  if (cert.empty())
    throw Bad(key.empty() ? prefix + "-tls-client-ca-file" : prefix + "-tls-key-file",
              "needs " + cert_flag);
  if (key.empty()) throw Bad(cert_flag, "needs " + prefix + "-tls-key-file");
  auto loaded = http::TlsServer::Load({cert, key, client_ca});
  if (!loaded) throw Bad(cert_flag, loaded.error().message);
  return *loaded;
}

std::shared_ptr<boost::asio::ssl::context> BuildApiTlsClient(const AgentConfig& c) {
  const bool https = c.api_url.starts_with("https://");
  if (!https) {
    for (auto [given, flag] : {std::pair{!c.api_ca_file.empty(), "--api-ca-file"},
                               {!c.api_cert_file.empty(), "--api-cert-file"},
                               {!c.api_key_file.empty(), "--api-key-file"},
                               {c.api_insecure, "--api-insecure"}})
      if (given) throw Bad(flag, "--api-url is not https://: " + c.api_url);
    return nullptr;
  }
  if (c.api_cert_file.empty() != c.api_key_file.empty())
    throw Bad(c.api_cert_file.empty() ? "--api-key-file" : "--api-cert-file",
              "--api-cert-file and --api-key-file go together");
  if (c.api_insecure && !c.api_ca_file.empty())
    throw Bad("--api-insecure", "verifies nothing, so --api-ca-file would be ignored");
  auto context =
      http::MakeTlsClientContext({c.api_ca_file, c.api_cert_file, c.api_key_file, c.api_insecure});
  if (!context) throw Bad("--api-url", context.error().message);
  return *context;
}

mode_t ParseMode(const std::string& text, const std::string& flag) {
  size_t used = 0;
  unsigned long m = 0;
  try {
    m = std::stoul(text, &used, 8);
  } catch (...) {
  }
  if (used == 0 || used != text.size() || m > 07777) throw Bad(flag, "not an octal mode: " + text);
  return static_cast<mode_t>(m);
}

std::pair<std::string, uint16_t> ParseHostPort(const std::string& text, const std::string& flag) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) throw Bad(flag, "expected HOST:PORT: " + text);
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "::";
  std::string digits = text.substr(colon + 1);
  size_t used = 0;
  int port = -1;
  try {
    port = std::stoi(digits, &used);
  } catch (...) {
  }
  if (used == 0 || used != digits.size() || port < 0 || port > 65535)
    throw Bad(flag, "bad port in " + text);
  return {host, static_cast<uint16_t>(port)};
}

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

void ApplyLogLevel(const std::string& level) {
  SetLogLevel(level == "debug"     ? LogLevel::kDebug
              : level == "warning" ? LogLevel::kWarning
              : level == "error"   ? LogLevel::kError
                                   : LogLevel::kInfo);
}

}  // namespace metastack::daemon
