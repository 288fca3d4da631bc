#pragma once
// What Neutron's DHCP agent tells dnsmasq so that guests on an isolated subnet (no router)
// reach the metadata service: pure functions, no I/O.
//
// Neutron (reference/neutron.md, dhcp.py) sends, for a subnet whose gateway has no router port,
// option 121 (RFC 3442 classless static routes) and its Microsoft twin 249 carrying a host
// route 169.254.169.254/32 via the DHCP port's own address, plus the default route again
// (RFC 3442 clients ignore option 3 when 121 is present), and option 3 itself:
//   tag:T,option:classless-static-route,169.254.169.254/32,DHCP_IP,0.0.0.0/0,GATEWAY
//   tag:T,249,169.254.169.254/32,DHCP_IP,0.0.0.0/0,GATEWAY
//   tag:T,option:router,GATEWAY
// The DHCP namespace then carries 169.254.169.254/32 on that interface, where the proxy listens.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace metastack::net {

// An IPv4 network, host byte order.
struct Ipv4Net {
  uint32_t address = 0;  // the network address (host bits cleared)
  int prefix = 0;
  uint32_t Mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  bool Contains(uint32_t ip) const { return (ip & Mask()) == address; }
};

Result<uint32_t> ParseIpv4(std::string_view text);
std::string FormatIpv4(uint32_t ip);
// "10.60.0.0/24"; host bits are cleared ("10.60.0.7/24" is 10.60.0.0/24).
Result<Ipv4Net> ParseIpv4Net(std::string_view text);

struct DhcpSubnet {
  std::string interface;  // the DHCP port's device inside the namespace
  std::string dhcp_ip;    // the DHCP port's IPv4 address on that subnet
  std::string subnet;     // IPv4 CIDR
  std::string gateway;    // may be empty: no default route and no option:router
  bool operator==(const DhcpSubnet&) const = default;
};

// Names the first wrong field ("dhcp_ip: 10.9.0.2 is not in 10.60.0.0/24").
Status ValidateDhcpSubnet(const DhcpSubnet& s);

// Linux interface names: 1-15 of A-Z a-z 0-9 _ . - @.
Status ValidateInterfaceName(std::string_view name, std::string_view field = "interface");

// The tag Neutron's dnsmasq range sets ("subnet-<id>"); ours is derived from the CIDR:
// "subnet-10.60.0.0-24".
std::string SubnetTag(const DhcpSubnet& s);

// The option lines above (opts-file syntax: no "dhcp-option="), tagged `tag`. Valid input only.
std::vector<std::string> MetadataOptionLines(const DhcpSubnet& s, std::string_view tag);

// A guest's fixed address: "MAC,IP" or "MAC,IP,NAME" on the command line; a dnsmasq hosts-file
// line "MAC,NAME,IP" (Neutron's order) or "MAC,IP".
struct DhcpHost {
  std::string mac;  // "fa:16:3e:00:02:05", lower-cased by ParseDhcpHost
  std::string ip;
  std::string name;  // optional
  bool operator==(const DhcpHost&) const = default;
};
Result<DhcpHost> ParseDhcpHost(std::string_view text);
std::string HostLine(const DhcpHost& host);

// How the dnsmasq we start hands out addresses.
struct DnsmasqSettings {
  std::vector<DhcpHost> hosts;
  std::string range_start;  // with range_end: a dynamic pool; both empty: static (hosts only)
  std::string range_end;
  std::chrono::seconds lease_time{86400};
  std::string domain = "openstacklocal";  // Neutron's dns_domain default; empty: none
  std::string binary = "/usr/sbin/dnsmasq";
};

Status ValidateDnsmasqSettings(const DhcpSubnet& s, const DnsmasqSettings& d);

// Where a dnsmasq instance keeps its files (all inside one directory).
struct DnsmasqFiles {
  std::string pid, hosts, opts, leases, log;
  static DnsmasqFiles In(const std::string& dir);
};

// The command line, Neutron's flags (Dnsmasq._build_cmdline_callback) less DNS: --port=0,
// because we serve no names (Neutron's dnsmasq also answers DNS for the network).
std::vector<std::string> DnsmasqCommandLine(const DhcpSubnet& s, const DnsmasqSettings& d,
                                            const DnsmasqFiles& files);

}  // namespace metastack::net
