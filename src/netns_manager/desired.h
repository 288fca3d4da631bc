#pragma once
// What the namespace manager (manager.h) serves, as pure functions of the store's routers and
// networks and the daemon's settings: which are this host's, the namespace each lives in (named
// as Neutron names them, qrouter-<id> and qdhcp-<id>, or by configured formats), and the static
// DHCP hosts of a network. No I/O; thread-safe.
//
// A router is served when its host is this daemon's or empty. A network is served on the same
// condition when it has no router (Neutron's isolated metadata), or whatever its router with
// force_metadata (Neutron's force_metadata: the DHCP namespace serves every network).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "net/dhcp_options.h"
#include "store/store.h"

namespace metastack::netns_manager {

enum class Kind { kRouter, kNetwork };
std::string_view KindName(Kind kind);  // "router", "network"

// Who hands guests their addresses and option 121 in a DHCP namespace: someone else (Neutron's
// DHCP agent; we add only the address and the listener), or a dnsmasq the manager runs.
enum class DhcpServer { kNone, kDnsmasq };
std::string_view DhcpServerName(DhcpServer server);  // "none", "dnsmasq"
std::optional<DhcpServer> ParseDhcpServer(std::string_view name);

inline constexpr std::string_view kIdPlaceholder = "{id}";
inline constexpr std::string_view kDefaultManagedDhcpStateDir = "/run/metastack/managed-dhcp";

struct Settings {
  std::string host;                               // this daemon's host name ([general] host)
  std::string router_namespace = "qrouter-{id}";  // the namespace of router {id}
  std::string network_namespace = "qdhcp-{id}";   // the DHCP namespace of network {id}
  bool force_metadata = false;                    // serve networks with a router too
  DhcpServer dhcp_server = DhcpServer::kNone;
  std::string dhcp_interface_prefix;  // the DHCP port's device name prefix; "": the only one
  std::string dhcp_state_dir = std::string(kDefaultManagedDhcpStateDir);
  uint16_t router_port = 9697;                        // the router listener's, and the redirect's
  std::chrono::milliseconds resync_interval{60'000};  // full resync period
  bool operator==(const Settings&) const = default;
};

// Names the first bad setting by its flag (field "--router-namespace").
Status ValidateSettings(const Settings& settings);

// A namespace name format: text around exactly one "{id}", such that some id makes a valid
// namespace name (net::ValidateNamespaceName). Errors name `flag`.
Status ValidateNamespaceFormat(std::string_view format, std::string_view flag);

// `format` with its "{id}" replaced by `id`; kInvalidArgument when the result is no valid
// namespace name (an id too long, or with characters a name may not have).
Result<std::string> NamespaceName(std::string_view format, std::string_view id);

// Whether something assigned to `assigned` ("" = unassigned) is served by the daemon on `host`.
bool ServedHere(std::string_view assigned, std::string_view host);

// One router or network to serve in its namespace. `netns` (also the proxy listener's name) is
// empty when the id makes no valid namespace name; `problem` then says why.
struct Target {
  Kind kind = Kind::kRouter;
  std::string id;
  std::string netns;
  std::string problem;
  bool operator==(const Target&) const = default;
};

// The target of a router or network, or nullopt when this daemon does not serve it.
std::optional<Target> RouterTarget(const store::Router& router, const Settings& settings);
std::optional<Target> NetworkTarget(const store::Network& network, const Settings& settings);

// The static hosts dnsmasq hands out in `subnet`: every binding whose IPv4 address is a host
// address of it other than the DHCP port's, by address, one line per (MAC, IP).
std::vector<net::DhcpHost> DhcpHosts(const std::vector<store::PortBinding>& bindings,
                                     const net::DhcpSubnet& subnet);

}  // namespace metastack::netns_manager
