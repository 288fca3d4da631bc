#pragma once
// network_data.json read into the shape both renderers (network_config.cc) need: one Link per
// guest interface with its name resolved, its networks and routes checked, and every value
// that ends up in a configuration file validated, so that the renderers only format. The
// conversion follows cloud-init's convert_net_json (cloudinit/sources/helpers/openstack.py):
// the same link types, names ("bond0" in order, "<parent>.<vlan_id>"), accept-ra rules and
// defaults (a static address or route without a netmask is /24 or /64). Internal to guest/.
// Pure; thread-safe.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace metastack::guest {

struct Cidr {
  std::string address;  // as network_data.json spells it (validated)
  int prefix = 0;
  bool v6 = false;
};

struct Route {
  Cidr destination;     // {"0.0.0.0", 0} is the default route
  std::string gateway;  // same family as destination
  std::optional<int64_t> metric;
};

enum class NetworkKind {
  kDhcp4,           // ipv4_dhcp
  kDhcp6,           // ipv6_dhcp (before Nova named the DHCPv6 modes)
  kSlaac,           // ipv6_slaac
  kDhcp6Stateless,  // ipv6_dhcpv6-stateless: SLAAC, other settings from DHCPv6
  kDhcp6Stateful,   // ipv6_dhcpv6-stateful
  kStatic,          // ipv4, ipv6, static, static6: `address` set
};

struct Network {
  NetworkKind kind = NetworkKind::kStatic;
  std::optional<Cidr> address;  // kStatic only
  // "routes"; a "gateway" key (not Nova's; cloud-init honours it) comes first, as the default
  // route of its family.
  std::vector<Route> routes;
  std::vector<std::string> dns;     // "dns_nameservers" (not Nova's)
  std::vector<std::string> search;  // "dns_search" (not Nova's)
};

enum class LinkKind { kEthernet, kVlan, kBond };

struct Link {
  std::string id;
  LinkKind kind = LinkKind::kEthernet;
  std::string name;         // the guest interface's name (see ParseNetworkData)
  bool name_known = false;  // kEthernet: `name` came from `nics` (else: the sanitized id)
  std::string mac;          // lowercase; kVlan: vlan_mac_address; kBond: may be empty
  std::optional<int> mtu;
  std::optional<bool> accept_ra;  // as convert_net_json sets it: the last network decides
  std::vector<Network> networks;  // in network_data.json order

  int vlan_id = 0;                 // kVlan
  std::string vlan_parent;         // kVlan: the parent's name
  std::vector<std::string> vlans;  // names of the VLANs on this link

  std::vector<std::string> bond_members;  // kBond: member names
  std::string bond_mode;                  // kBond: Linux's name ("802.3ad"), or empty
  std::optional<int> bond_miimon;         // kBond: milliseconds
  std::string bond_xmit_hash_policy;      // kBond: or empty
  std::string bond_master;                // kEthernet in a bond: the bond's name
};

struct NetworkModel {
  std::vector<Link> links;          // network_data.json's order
  std::vector<std::string> dns;     // "services" of type "dns", in order
  std::vector<std::string> search;  // their "search" domains
};

// Names: an ethernet-like link is named after nics[its MAC]; when `nics` lacks it, that is
// kInvalidArgument if `require_names`, else the link id with every character outside
// [A-Za-z0-9_.-] replaced by '_'. Bonds are "bond0", "bond1"... in link order; a VLAN is
// "<parent name>.<vlan_id>", or "vlan<vlan_id>" when that exceeds the kernel's 15 characters.
// Errors are kInvalidArgument naming the field ("networks[1].routes[0].gateway").
Result<NetworkModel> ParseNetworkData(const nlohmann::json& network_data,
                                      const std::map<std::string, std::string>& nics,
                                      bool require_names);

}  // namespace metastack::guest
