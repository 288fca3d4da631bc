#pragma once
// network_data.json (Nova's format, as config drives and the metadata service carry it) turned
// into configuration files for the guest's network stack: systemd-networkd .network files, and
// /etc/network/interfaces for ifupdown. The result matches what cloud-init renders from the same
// network_data.json (cloudinit.sources.helpers.openstack.convert_net_json, then its networkd and
// eni renderers) in addresses, gateways, routes, DNS servers and search domains, MTU and DHCP.
//
// Interface names: networkd files match by MAC address (no name needed); for ifupdown, each
// link's MAC is looked up in `nics` (MAC, lowercase -> kernel name, as read from
// /sys/class/net/*/address). A link whose MAC is absent from `nics` is kInvalidArgument for
// ifupdown, naming the link. Malformed network_data.json (a missing "links", a network naming an
// unknown link, a bad address) is kInvalidArgument naming the field. Pure; thread-safe.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// MAC (lowercase) -> interface name for every entry of `sys_class_net` ("/sys/class/net") with
// an address, loopback excluded.
std::map<std::string, std::string> ReadNics(const std::string& sys_class_net = "/sys/class/net");

}  // namespace metastack::guest
