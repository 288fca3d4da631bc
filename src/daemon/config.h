#pragma once
// What the metadata daemons (`api`, `agent`, `proxy`, `serve`) are configured with: one struct per
// section of the configuration file, each declared once as command-line flags on a CLI11 app
// (DeclareX), so that every daemon running a component takes exactly the same flags and keys for
// it. Flags and keys are one namespace: the key `listen` in section `[admin]` is the flag
// `--admin-listen`, the key `agent-timeout` in `[proxy]` is `--agent-timeout` (see
// config_file.h for the rule). The section of each flag is its CLI11 group, so `--help` lists
// flags by section as the file has them.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "api/service.h"
#include "drives/keeper.h"
#include "http/rate_limiter.h"
#include "http/server.h"
#include "http/tls.h"
#include "netns_manager/desired.h"
#include "proxy/proxy.h"
#include "store/store.h"

namespace metastack::daemon {

// Section names (CLI11 groups). kGeneral is the file's top level.
inline constexpr const char* kGeneral = "general";
inline constexpr const char* kApi = "api";
inline constexpr const char* kAdmin = "admin";
inline constexpr const char* kOps = "ops";
inline constexpr const char* kAgent = "agent";
inline constexpr const char* kProxy = "proxy";
inline constexpr const char* kLimits = "limits";
inline constexpr const char* kConfigDrive = "configdrive";
inline constexpr const char* kSections[] = {kGeneral, kApi,   kAdmin,       kOps,
                                            kAgent,   kProxy, kConfigDrive, kLimits};

// Which components a daemon runs. Components in one process call each other directly (see
// process.h); each one not run is reached over its socket.
struct Components {
  bool api = false, agent = false, proxy = false;
};

struct GeneralConfig {
  std::string store = std::string(store::kDefaultStoreUrl);
  std::string secret_file;  // the agent's and the signed API's shared secret
  size_t threads = 0;       // serving HTTP; 0: one per core
  size_t store_threads = 4;
  std::string log_level = "info";
  bool access_log = false;
  std::string ready_file;
  std::string host;    // this host's name for the namespace manager; "": gethostname()
  bool check = false;  // validate the configuration, print it, exit
  bool operator==(const GeneralConfig&) const = default;
};

struct ApiConfig {
  std::vector<std::string> signed_listen;
  std::vector<std::string> source_listen;
  std::vector<std::string> trusted_proxies;
  std::vector<std::string> networks;
  std::string dhcp_domain = "novalocal";
  std::string vendor_data_file;
  size_t cache_instances = 200'000;
  bool check_forwarded_address = true;
  double rate = 20;
  double burst = 200;
  // Nova's DynamicJSON vendor data: name@url targets, deadlines in seconds (Nova's defaults).
  std::vector<std::string> vendordata_dynamic_targets;
  double vendordata_dynamic_connect_timeout = 5;
  double vendordata_dynamic_read_timeout = 5;
  double watch_max_timeout = 300;  // seconds; GCE-style wait_for_change
  size_t watchers_per_instance = 16;
  size_t watchers = 10'000;
  // IMDSv2 sessions (docs/extensions.md, "Sessions"): the default policy, and the keys file
  // (core::ParseTokenKeys); without one the key derives from --secret-file.
  std::string http_tokens = "optional";
  std::string token_keys_file;
  // The instance identity document's RSA key and its certificate (PEM files); both or neither.
  std::string identity_key_file;
  std::string identity_certificate_file;
  // TLS on the signed listeners (http/tls.h): certificate chain and key (PEM), and the CAs whose
  // client certificates are required (mutual TLS; "" for none).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  bool operator==(const ApiConfig&) const = default;
};

struct AdminConfig {
  std::string listen = "127.0.0.1:8776";
  std::string token_file;
  size_t body_limit = core::DocumentLimits::kMaxDocumentBytes;
  std::string tls_cert_file;  // TLS on the admin listener, as [api]'s
  std::string tls_key_file;
  std::string tls_client_ca_file;
  bool operator==(const AdminConfig&) const = default;
};

struct OpsConfig {
  std::string listen;  // /healthz and /metrics of every component the process runs
  bool operator==(const OpsConfig&) const = default;
};

struct AgentConfig {
  std::string socket = "/run/metastack/agent.sock";
  std::string socket_mode = "0660";
  std::string api_url = "http://127.0.0.1:8775";  // when the API runs elsewhere
  double api_timeout = 30;
  // With an https:// api_url (http/tls.h): the CAs ("" for the system's), a client certificate
  // and key, and no verification at all (tests only).
  std::string api_ca_file;
  std::string api_cert_file;
  std::string api_key_file;
  bool api_insecure = false;
  size_t cache_entries = 200'000;
  bool operator==(const AgentConfig&) const = default;
};

struct ProxyConfig {
  std::string agent_url = "unix:/run/metastack/agent.sock";  // when the agent runs elsewhere
  std::string control = "/run/metastack/proxy.sock";
  std::string listeners_file;
  std::vector<std::string> listen;
  double agent_timeout = 30;
  // The namespace manager (netns_manager/manager.h): serve the store's routers and networks.
  bool manage = false;
  std::string router_namespace = "qrouter-{id}";
  std::string network_namespace = "qdhcp-{id}";
  bool force_metadata = false;
  std::string dhcp_server = "none";
  std::string dhcp_interface_prefix;
  std::string dhcp_state_dir = std::string(netns_manager::kDefaultManagedDhcpStateDir);
  uint16_t router_port = 9697;
  double resync_interval = 60;
  bool operator==(const ProxyConfig&) const = default;
};

// The drive keeper (drives/keeper.h), run beside the API (`api`, `serve`) when `dir` is set.
struct ConfigDriveConfig {
  std::string dir;
  bool all = false;  // Nova's force_config_drive
  std::string format = "iso";
  std::string disk_format = "raw";
  size_t vfat_size = 64;  // MiB
  std::string seed_file;  // random_seed's build seed; none: the OS's generator at each build
  bool operator==(const ConfigDriveConfig&) const = default;
};

struct LimitsConfig {
  size_t max_connections = 10'000;
  size_t max_connections_per_listener = 2'500;
  size_t reserved_connections = 2'500;
  size_t max_connections_per_address = 256;
  size_t header_limit = 8192;
  size_t body_limit = 65536;
  double request_timeout = 10;
  double idle_timeout = 30;
  double drain_timeout = 10;
  bool operator==(const LimitsConfig&) const = default;
};

// Everything one daemon process is configured with.
struct DaemonConfig {
  Components run;
  GeneralConfig general;
  ApiConfig api;
  AdminConfig admin;
  OpsConfig ops;
  AgentConfig agent;
  ProxyConfig proxy;
  ConfigDriveConfig configdrive;
  LimitsConfig limits;
  std::string config_file;  // re-read on SIGHUP when set
};

// Declares every flag of the components in `config.run` (and the general and limits sections)
// on `app`, bound to `config`; `--config FILE` too (config_file.h). The API's default signed
// listener differs by daemon: `api` listens on 0.0.0.0:8775 when given no listener at all;
// `serve` has none unless given one (its own agent calls its API directly).
void Declare(CLI::App& app, DaemonConfig& config);

// Checks and converts, throwing std::runtime_error that names the flag (and so the key).
http::ServerLimits BuildLimits(const LimitsConfig& c);
http::RateLimit BuildRateLimit(const ApiConfig& c);
// The API's options without the secret (the daemon reads that): vendor data read and parsed,
// trusted proxies parsed.
api::ApiOptions BuildApiOptions(const ApiConfig& c);
// The listeners the proxy is configured with: --listeners FILE then each --listen.
std::vector<proxy::ListenerSpec> BuildListeners(const ProxyConfig& c);
// The namespace manager's settings (nullopt without --manage); the host is [general] host, else
// gethostname().
std::optional<netns_manager::Settings> BuildManageSettings(const DaemonConfig& c);
// A TLS listener's identity from a section's tls-* keys (nullptr when none is set); throws naming
// the flag (`--api` or `--admin` is the prefix of its flags) when the files cannot be used or
// a certificate comes without its key.
std::shared_ptr<http::TlsServer> BuildTlsServer(const std::string& prefix, const std::string& cert,
                                                const std::string& key,
                                                const std::string& client_ca);
// The agent's client context for an https:// --api-url (nullptr for http:// and unix:); throws
// naming the flag, also for TLS flags given with a URL that is not https://.
std::shared_ptr<boost::asio::ssl::context> BuildApiTlsClient(const AgentConfig& c);
// The drive keeper's settings (nullopt unless the API runs and --configdrive-dir is set): the
// directory must exist, the seed file is read. The log sink is left to the keeper.
std::optional<drives::KeeperSettings> BuildKeeperSettings(const DaemonConfig& c);
mode_t ParseMode(const std::string& text, const std::string& flag);
// "HOST:PORT", "[v6]:PORT" or ":PORT" (all addresses).
std::pair<std::string, uint16_t> ParseHostPort(const std::string& text, const std::string& flag);
// A secret or token file's contents without a trailing newline; throws when missing, empty or
// shorter than `min_length`.
std::string ReadSecretFile(const std::string& path, size_t min_length = 1);
void ApplyLogLevel(const std::string& level);
// Seconds as given in flags, as a duration.
std::chrono::milliseconds Milliseconds(double seconds);

}  // namespace metastack::daemon
