#pragma once
// The metadata rules Neutron's L3 agent installs in a router namespace, in chains of our own.
//
// Neutron's rules (reference/neutron.md; driver.py metadata_{filter,nat}_rules), with its
// wrapped chains "neutron-l3-agent-X" renamed "<chain_prefix>-X":
//   mangle  PREROUTING -> P-PREROUTING: -d 169.254.169.254/32 -i qr-+ tcp dport 80 MARK 0x1/0xffff
//   nat     PREROUTING -> P-PREROUTING: same match, REDIRECT --to-ports 9697
//   filter  INPUT      -> P-INPUT:      mark 0x1/0xffff ACCEPT; tcp dport 9697 DROP
//           FORWARD    -> P-FORWARD -> P-scope: mark 0x1/0xffff DROP
// The effect: a guest behind a qr- interface reaches the proxy on 9697 only through the
// redirect of 169.254.169.254:80; connecting to the router's 9697 directly is dropped, and
// marked packets are never forwarded off the router.
//
// IPv6 (Neutron's l3 router_info.initialize_metadata_iptables and the driver's rules for
// ipv6): the same chains and rules in ip6tables, with fe80::a9fe:a9fe/128 for the metadata
// address. The proxy listens on [::]:9697, so without them a guest reaches it directly over
// the router's link-local or global IPv6 address. Installed whenever the kernel has IPv6.
//
// We own exactly: the chains <prefix>-{PREROUTING,INPUT,FORWARD,scope} in those three tables
// of each family, and the one-rule jumps "-A <BUILTIN> -j <prefix>-<BUILTIN>" to them
// (inserted first, so that a foreign ACCEPT cannot bypass the DROP). Install rewrites our
// chains whole and adds a missing jump, in one iptables-restore --noflush per family; Remove
// deletes those jumps and chains and nothing else. Foreign rules and chains in the same tables
// are never touched.
//
// Blocking (runs iptables tools); thread-safe, but two callers changing the same namespace at
// once can interleave their read and write steps.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "net/iptables.h"

namespace metastack::net {

inline constexpr std::string_view kMetadataAddress = "169.254.169.254";
inline constexpr std::string_view kMetadataAddressV6 = "fe80::a9fe:a9fe";
inline constexpr std::string_view kDefaultChainPrefix = "metastack";

struct RouterMetadataConfig {
  std::string netns;                     // the router namespace (must exist)
  uint16_t proxy_port = 9697;            // where the ns-proxy listens
  std::string interface_prefix = "qr-";  // guest-facing interfaces ("qr-+" in the rules)
  uint32_t mark = 0x1;                   // Neutron's metadata_access_mark
  uint32_t mark_mask = 0xffff;           // Neutron's ROUTER_MARK_MASK
  std::string chain_prefix = std::string(kDefaultChainPrefix);
  IptablesBackend backend = IptablesBackend::kAuto;
};

// One line as iptables-save (ip6tables-save for kV6) prints it, with its table: ":CHAIN" for a
// chain of ours, "-A CHAIN ..." for a rule.
struct RuleLine {
  std::string table;
  std::string line;
  IpFamily family = IpFamily::kV4;
  bool operator==(const RuleLine&) const = default;
};

// What one backend holds of ours in a namespace: the IPv4 lines, then the IPv6 ones.
struct InstalledRules {
  IptablesBackend backend = IptablesBackend::kNft;
  std::vector<RuleLine> lines;
};

// What an install did.
struct RouterInstall {
  IptablesBackend backend = IptablesBackend::kNft;
  bool ipv6 = false;  // false only when the kernel has no IPv6 (nothing to protect there)
};

// Names the first thing wrong with the config ("interface_prefix: ..."), field included.
Status ValidateRouterConfig(const RouterMetadataConfig& config);

// The rules (no chain lines) Install makes for one family, in the canonical iptables-save form,
// table by table: the jumps first, then each chain's rules. Pure; the config must be valid.
std::vector<RuleLine> RouterMetadataRules(const RouterMetadataConfig& config,
                                          IpFamily family = IpFamily::kV4);

// Installs (or brings up to date) the rules in config.netns, IPv4 and (when the kernel has it)
// IPv6; idempotent. kAuto uses the backend that already holds our chains there, else the host's
// default `iptables`; our chains in the other backend (an earlier install with the other
// choice) are removed.
Result<RouterInstall> InstallRouterMetadata(const RouterMetadataConfig& config);

// What of ours is installed in `netns`, per backend that has any (kAuto: look in every
// installed backend). Per family, chains first, then rules, as iptables-save orders them.
Result<std::vector<InstalledRules>> ListRouterMetadata(
    std::string_view netns, IptablesBackend backend = IptablesBackend::kAuto,
    std::string_view chain_prefix = kDefaultChainPrefix);

// Removes our jumps and chains from `netns` (kAuto: from every backend that has them) and
// returns what was removed; removing nothing is not an error.
Result<std::vector<InstalledRules>> RemoveRouterMetadata(
    std::string_view netns, IptablesBackend backend = IptablesBackend::kAuto,
    std::string_view chain_prefix = kDefaultChainPrefix);

}  // namespace metastack::net
