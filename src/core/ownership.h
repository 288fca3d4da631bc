#pragma once
// Whether a guest address belongs to an instance: the API's second check of the identity the
// metadata agent vouches for. The agent names the instance behind (network or router, address)
// from its port cache; if that cache were ever stale (a lagging change feed on another host),
// the signed instance would not own the forwarded address any more, and the API refuses rather
// than serve one tenant's data to another's guest. Pure; thread-compatible.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/instance.h"
#include "core/ip.h"

namespace metastack::core {

// A MAC as ports are compared by it (the port index, the ownership check): lowercase, as
// Neutron's API stores it.
std::string CanonicalMac(std::string_view mac);

// The MAC a link-local guest's address names, as Neutron's metadata agent reads it
// (oslo_utils.netutils get_mac_addr_by_ipv6; a guest forms the address from its MAC as RFC 4291
// appendix A's modified EUI-64): for an address in fe80::/10, the MAC of its interface id, i.e.
// bytes 8-10 and 13-15 with the universal/local bit flipped back; bytes 11-12 are dropped whatever
// they hold (ff:fe or not), as oslo drops them. Lowercase colon form ("fa:16:3e:00:04:07").
// nullopt for any other address (IPv4, IPv4-mapped, global or unique-local IPv6).
std::optional<std::string> LinkLocalMac(const IpAddress& address);

// The addresses an instance answers from, parsed once (the API keeps them with its cached
// instance, so the per-request check parses nothing).
struct OwnedAddresses {
  std::vector<IpAddress> fixed;   // every port's fixed IPs, IPv4-mapped ones as IPv4
  std::vector<std::string> macs;  // every port's MAC, lowercase

  // True when `address` (IPv4-mapped IPv6 compared as IPv4) is a fixed IP, or a link-local
  // address that names one of the MACs (LinkLocalMac: the rule the agent finds a port by).
  bool Contains(const IpAddress& address) const;
};

OwnedAddresses AddressesOf(const Instance& instance);

}  // namespace metastack::core
