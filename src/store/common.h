#pragma once
// Pieces every Store implementation shares, so that they agree by construction: the port
// bindings an instance document implies, the checks a write must pass against the networks it
// names, IP canonicalisation, list limits, and the change fan-out to subscribers.
// Internal to store/.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace metastack::store::internal {

// Every (port, fixed IP) of an instance, IPs in canonical text, MACs as core::CanonicalMac.
std::vector<PortBinding> Bindings(const core::Instance& instance);

// What a port lookup searches for, given the guest's address: a link-local IPv6 address
// (fe80::/10) names the port by the MAC in its interface id (core::LinkLocalMac), as Neutron's
// metadata agent reads it; any other address names it by fixed IP (IPv4-mapped as IPv4).
// kInvalidArgument when `ip` is not an address.
struct PortQuery {
  bool by_mac = false;
  std::string value;  // the canonical IP, or the lowercase MAC
  // For messages: "IP 10.0.0.5", "MAC fa:16:3e:00:04:07".
  std::string Describe() const;
};
Result<PortQuery> PortQueryFor(std::string_view ip);

// The one port among the bindings a lookup matched (several fixed IPs of one port are one
// port; of those, the first in (network, ip) order is returned). kNotFound
// ("no port with IP X <where> ID") when none matched, kConflict ("N ports have IP X <where>
// ID") when several ports did. `where`: "on network" or "behind router".
Result<PortBinding> OnePort(std::vector<PortBinding> matched, const PortQuery& query,
                            std::string_view where, std::string_view id);

// Checks an instance's ports against the networks they name. `network` looks a network up
// (nullopt when unknown). Errors name the field ("ports[0].network_id: unknown network N").
Status CheckPortsAgainstNetworks(
    const core::Instance& instance,
    const std::function<std::optional<Network>(const std::string&)>& network);

// A bounded page size (1..1000).
size_t PageLimit(const ListOptions& options);

Status CheckNetworkFields(const Network& network);
Status CheckRouterFields(const Router& router);
// A router's or network's host: empty (unassigned), or an id-like name (field "host").
Status CheckHost(std::string_view host);
// A guest's password post applied to `instance`: kInvalidArgument over 1020 bytes, kConflict
// when one is already set (PasswordWritable), else sets it.
Status SetGuestPassword(core::Instance& instance, std::string_view password);

// ListOptions::after for ports ("NETWORK IP") as its (network, ip) pair. A key without a space
// is a network id with an empty IP: as bytewise, every binding of that network follows it.
std::pair<std::string, std::string> SplitPortKey(std::string_view key);

// A change's kind as the feeds spell it ("instance", "network", "router"), and back (nullopt
// for anything else).
std::string_view KindName(Change::Kind kind);
std::optional<Change::Kind> KindFromName(std::string_view name);

std::unexpected<Error> NotFound(std::string what, std::string_view id);
std::unexpected<Error> Conflict(std::string message);

// Subscriber list with safe unsubscription; Publish() calls every callback in turn.
class ChangeHub {
 public:
  std::unique_ptr<Subscription> Subscribe(std::function<void(const Change&)> callback);
  void Publish(const Change& change);

 private:
  struct State {
    std::mutex mu;
    std::map<uint64_t, std::function<void(const Change&)>> callbacks;
    uint64_t next = 0;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace metastack::store::internal
