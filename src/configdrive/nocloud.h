#pragma once
// The NoCloud seed: what cloud-init's NoCloud datasource reads from a vfat or iso9660 volume
// labelled "cidata" (DataSourceNoCloud._get_devices; either case of the label). For images and
// hosts that do not run the OpenStack datasources, or that want the simplest seed.
//
// Files, at the root of the volume:
//   meta-data       YAML: instance-id (the uuid), local-hostname (hostname + "." + dhcp_domain,
//                   as on the config drive), availability-zone (when set), public-keys (every
//                   key, in document order).
//   user-data       the instance's user data, byte for byte; empty when it has none (NoCloud
//                   requires the file).
//   vendor-data     only when the vendor data says what cloud-init should run: its top-level
//                   "cloud-init" member when that is a string, or the vendor data itself when
//                   it is a JSON string (cloud-init's own convert_vendordata rule on drives).
//   network-config  only when the instance has ports: network_data.json converted by our own
//                   code (NetworkConfigV2 below) into network config version 2 YAML.
//
// Why version 2: it names NICs by MAC (match: macaddress) instead of needing the guest's NIC
// table as cloud-init's convert_net_json does, and cloud-init hands it to netplan unchanged or
// renders it for ENI, sysconfig and networkd. Mapping, per network_data.json link (in order):
//   ethernets.ethN: {match: {macaddress}, set-name: ethN, mtu (when not null)}
//   ipv4 / ipv6 network       addresses ["ip/prefix"], routes [{to: "net/prefix", via}],
//                             nameservers.addresses (the network's dns services);
//                             ipv6 also accept-ra: false (as convert_net_json)
//   ipv4_dhcp / ipv6_dhcp     dhcp4: true / dhcp6: true
//   ipv6_slaac                accept-ra: true
//   ipv6_dhcpv6-stateful/-stateless   dhcp6: true, accept-ra: true
// Every link becomes an ethernet: Nova's network_data.json for a libvirt guest has no vlan or
// bond links (ours never does). A network type outside the list is an error.
//
// Scalars are written as YAML double-quoted strings with every character YAML does not print
// escaped, so any UTF-8 in keys or hostnames survives PyYAML. Pure; thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "core/instance.h"
#include "core/metadata.h"

namespace metastack::configdrive {

// The seed's files, in the order listed above.
Result<std::vector<core::DriveFile>> NoCloudFiles(const core::Instance& instance,
                                                  const core::Settings& settings);

// network_data.json (Nova's format) as network config v2 YAML; nullopt when it has no links.
// kInvalidArgument for a network type or address it cannot map.
Result<std::optional<std::string>> NetworkConfigV2(const core::Json& network_data);

// `s` (UTF-8) as a YAML double-quoted scalar.
std::string YamlQuote(std::string_view s);

}  // namespace metastack::configdrive
