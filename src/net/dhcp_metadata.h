#pragma once
// The metadata part of Neutron's DHCP agent, for one DHCP namespace: 169.254.169.254/32 and
// (whenever the kernel has IPv6) fe80::a9fe:a9fe/64 on the DHCP port's interface, and dnsmasq
// handing guests the option-121 route to the IPv4 one (dhcp_options.h has the options
// themselves). Guests reach the IPv6 one on their link, as [fe80::a9fe:a9fe%<their interface>].
//
// Setup records what it did in <state_dir>/<netns>/state (default /run/metastack/dhcp: state
// lives as long as the namespaces do, until reboot) next to the dnsmasq files it uses (pid,
// host, opts, leases, dnsmasq.log), so that Teardown undoes exactly that:
//   - each address, only if Setup added it (it is left alone when it was there before);
//   - the dnsmasq Setup started, identified by its pid file AND its command line naming that
//     pid file, so a recycled pid is never signalled;
//   - the file Setup wrote into a dnsmasq conf dir ("<conf_dir>/metastack-<netns>.conf").
// Nothing outside the named namespace, the state directory and that one file is touched.
//
// Setup is idempotent: run again it rewrites the files, sends the running dnsmasq SIGHUP
// (it re-reads hosts and opts) or restarts it when its command line changed, and undoes
// what the new configuration no longer asks for.
//
// Blocking (runs ip and dnsmasq); not safe against concurrent calls for the same namespace.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "net/dhcp_options.h"
#include "net/iptables.h"

namespace metastack::net {

inline constexpr std::string_view kDefaultDhcpStateDir = "/run/metastack/dhcp";

struct DhcpMetadataSetup {
  std::string netns;
  DhcpSubnet subnet;  // interface, dhcp_ip (must already be on the interface), subnet, gateway
  bool start_dnsmasq = false;
  DnsmasqSettings dnsmasq;  // used with start_dnsmasq
  // If set (an existing directory), the options are also written there in conf-file syntax,
  // for a dnsmasq we do not run. They are tagged with the interface name, a tag dnsmasq sets
  // on every request that arrives on that interface. That dnsmasq reads conf dirs only at
  // start: restart it.
  std::string conf_dir;
  std::string state_dir = std::string(kDefaultDhcpStateDir);
};

// What Setup recorded for a namespace.
struct DhcpMetadataState {
  std::string netns;
  DhcpSubnet subnet;
  bool address_added = false;   // we added 169.254.169.254/32 (false: it was already there)
  bool address6_added = false;  // we added fe80::a9fe:a9fe/64 (false: there before, or no IPv6)
  std::string conf_file;        // the conf-dir file we wrote, or empty
  bool dnsmasq = false;         // we started a dnsmasq
  int dnsmasq_pid = 0;          // that dnsmasq's pid while it runs, else 0 (filled by List/Setup)
  std::string dir;              // <state_dir>/<netns>
};

// "metastack-<netns>.conf" and its lines ("dhcp-option=tag:<interface>,...").
std::string ConfDirFileName(std::string_view netns);
std::vector<std::string> ConfDirLines(const DhcpSubnet& subnet);

// One IPv4 address of an interface, as `ip -o -4 addr show` lists it.
struct InterfaceAddress {
  std::string interface;  // without ip's "@ifN" suffix
  std::string cidr;       // "10.60.0.2/24"
  bool operator==(const InterfaceAddress&) const = default;
};
// Every IPv4 address of every interface in `netns`.
Result<std::vector<InterfaceAddress>> ListIpv4Addresses(std::string_view netns);

// The DHCP port of a namespace, found from its addresses (Neutron's DHCP agent knows it by its
// "tap"/"ns-" device): the one interface other than lo, named with `prefix` when that is not
// empty, that has an IPv4 address other than 169.254.169.254/32. Its first such address is
// dhcp_ip and that address's network the subnet; no gateway. kNotFound when no interface
// qualifies, kConflict when several do; both messages name `netns`. Pure.
Result<DhcpSubnet> ChooseDhcpPort(const std::vector<InterfaceAddress>& addresses,
                                  std::string_view prefix, std::string_view netns);

// Whether `interface` in `netns` carries the metadata address of `family` (169.254.169.254/32,
// fe80::a9fe:a9fe/64); false when the interface does not exist.
Result<bool> HasMetadataAddress(std::string_view netns, std::string_view interface,
                                IpFamily family = IpFamily::kV4);
// Adds it unless present (the IPv6 one without duplicate address detection, so that it is
// usable at once); true when this call added it.
Result<bool> AddMetadataAddress(std::string_view netns, std::string_view interface,
                                IpFamily family = IpFamily::kV4);
// Removes it if present.
Status RemoveMetadataAddress(std::string_view netns, std::string_view interface,
                             IpFamily family = IpFamily::kV4);

Result<DhcpMetadataState> SetupDhcpMetadata(const DhcpMetadataSetup& setup);

// The recorded states, sorted by namespace; only `netns`'s when it is not empty.
Result<std::vector<DhcpMetadataState>> ListDhcpMetadata(std::string_view state_dir,
                                                        std::string_view netns = {});

// Undoes what Setup recorded for `netns` and deletes the record; returns what it undid, or
// nullopt when nothing was recorded. Works after the namespace is gone (then only the dnsmasq,
// the conf file and the record remain to remove).
Result<std::optional<DhcpMetadataState>> TeardownDhcpMetadata(std::string_view state_dir,
                                                              std::string_view netns);

}  // namespace metastack::net
