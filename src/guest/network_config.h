#pragma once
// network_data.json (Nova's format, as config drives and the metadata service carry it) turned
// into configuration files for the guest's network stack: systemd-networkd .network files, and
// /etc/network/interfaces for ifupdown. The result matches what cloud-init renders from the same
// network_data.json (cloudinit.sources.helpers.openstack.convert_net_json, then its networkd and
// eni renderers) in addresses, gateways, routes, DNS servers and search domains, MTU and DHCP.
//
// What is rendered, per link of network_data.json (RenderNetworkd: one
// /etc/systemd/network/10-metastack-<name>.network each, plus a .netdev for a VLAN or bond;
// RenderIfupdown: stanzas of one /etc/network/interfaces):
//   * ethernet-like links (type phy, ovs, bridge, vif, tap, hw_veb, ... or none: cloud-init's
//     KNOWN_PHYSICAL_TYPES) matched by MAC address; "vlan" links (vlan_link, vlan_id,
//     vlan_mac_address) named "<parent>.<vlan_id>"; "bond" links (bond_links, bond_mode,
//     bond_miimon, bond_xmit_hash_policy) named bond0, bond1, ... in order. Any other link
//     type is kInvalidArgument.
//   * networks: ipv4/ipv6/static/static6 addresses with their prefix, ipv4_dhcp, ipv6_dhcp,
//     ipv6_slaac, ipv6_dhcpv6-stateless and -stateful; their routes (destination, gateway,
//     metric); MTU; accept-ra as convert_net_json sets it (off for a static "ipv6" network,
//     on for stateful DHCPv6); "dns" services as every interface's DNS servers (networkd) or
//     lo's dns-nameservers (ifupdown, for resolvconf).
// Where cloud-init's own renderers lose what convert_net_json meant (no .netdev for VLANs and
// bonds, stateful DHCPv6 as DHCP=no, route(8) lines that need net-tools), these follow the
// data; tests/integration/test_guest_network_vs_cloudinit.py lists each such difference.
//
// Interface names: `nics` maps MAC (lowercase) -> kernel name, as ReadNics reads it. networkd
// files match an ethernet-like link by MAC (with Type=ether, so that a VLAN or bond carrying
// the same MAC does not match), adding Name= when `nics` knows the MAC; a link `nics` lacks
// is named in file names by its id, sanitized. For ifupdown every ethernet-like link's MAC
// must be in `nics`; one that is not is kInvalidArgument naming the link. Malformed
// network_data.json (a missing "links", a network naming an unknown link, a bad address) is
// kInvalidArgument naming the field ("networks[0].routes[1].gateway: missing"). The
// renderers are pure; everything here is thread-safe.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace metastack::guest {

struct ConfigFile {
  std::string path;  // absolute, in the guest: "/etc/systemd/network/10-metastack-eth0.network"
  std::string contents;
};

Result<std::vector<ConfigFile>> RenderNetworkd(const nlohmann::json& network_data,
                                               const std::map<std::string, std::string>& nics);

// The whole /etc/network/interfaces.
Result<ConfigFile> RenderIfupdown(const nlohmann::json& network_data,
                                  const std::map<std::string, std::string>& nics);

// MAC (lowercase) -> interface name for the entries of `sys_class_net` ("/sys/class/net") that
// cloud-init's get_interfaces counts as NICs: loopback, bridges (bridge/), bonds (bonding/),
// VLANs (DEVTYPE=vlan in uevent) and interfaces with a stolen address (addr_assign_type 2)
// are left out, as they share another interface's MAC; a bond member by its permanent address
// (bonding_slave/perm_hwaddr). Virtual NICs count (a veth, a tap: a guest in a namespace has
// only those). When two share a MAC, the first by name wins. Unreadable entries are skipped; a
// missing directory gives an empty map.
std::map<std::string, std::string> ReadNics(const std::string& sys_class_net = "/sys/class/net");

}  // namespace metastack::guest
