#pragma once
// What Nova derives from an instance's ports: network_data.json (links, networks, services),
// the Debian interfaces(5) file it injects for "injected" networks without DHCP, and the
// addresses the EC2 tree shows. Pure; thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "core/instance.h"
#include "core/py_json.h"

namespace metastack::core {

// network_data.json's object; nullopt when the instance has no ports (Nova then serves "{}").
std::optional<Json> NetworkData(const Instance& instance);

// The rendered interfaces file, or nullopt when no port asks for injection.
std::optional<std::string> InjectedInterfaces(const Instance& instance);

struct Ec2IpInfo {
  std::vector<std::string> fixed_ipv4;  // every IPv4 fixed IP, in port and subnet order
  std::vector<std::string> floating_ipv4;
};
Ec2IpInfo Ec2Addresses(const Instance& instance);

}  // namespace metastack::core
