#pragma once
// The two iptables implementations Debian ships, driven through their save/restore tools.
//
// iptables-nft (Debian 12's default `iptables`) and iptables-legacy keep separate rule sets in
// the kernel; both are consulted for every packet, but each tool sees only its own. So a rule
// must be removed with the backend that added it, which is why every caller names one
// explicitly or lets auto-detection find where our chains already are. Each backend has an
// IPv4 tool (iptables-*) and an IPv6 one (ip6tables-*) with separate tables; both come in
// Debian's iptables package.
//
// Everything here runs the tools inside a named namespace (net::RunCommand with netns set).
// Blocking; thread-safe (no state). Concurrent writers to the same namespace's tables are
// serialized by the kernel per restore (atomic per table for legacy, one transaction for nft),
// not across the read-then-write pairs callers build from these.

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace metastack::net {

enum class IptablesBackend { kAuto, kNft, kLegacy };
enum class IpFamily { kV4, kV6 };

std::string_view FamilyName(IpFamily family);  // "ipv4", "ipv6"
// "iptables-nft", "ip6tables-legacy": the tool family as operators know it.
std::string ToolName(IpFamily family, IptablesBackend backend);

// True when the kernel has IPv6 (then ip6tables rules matter and must be installed).
bool KernelHasIpv6();

std::string_view BackendName(IptablesBackend backend);  // "auto", "nft", "legacy"
Result<IptablesBackend> ParseBackend(std::string_view name);

// True when the backend's IPv4 save and restore tools are installed, and, for legacy, when
// this process can read the kernel's legacy tables: /proc/net/ip_tables_names is root's alone
// (mode 0440), so a daemon running as its own user with CAP_NET_ADMIN (the packaged units)
// uses nft only. Legacy tables that root filled stay out of its reach, which it cannot
// change anyway.
bool BackendAvailable(IptablesBackend backend);

// The installed concrete backends this process can use, nft first.
std::vector<IptablesBackend> AvailableBackends();

// What plain `iptables` is on this host (the Debian alternative), from `iptables --version`.
Result<IptablesBackend> DefaultBackend();

// One table of iptables-save output.
struct IptablesTable {
  std::string name;                 // "filter", "nat", "mangle", ...
  std::vector<std::string> chains;  // every declared chain, built-in and user-defined
  std::vector<std::string> rules;   // the "-A CHAIN ..." lines, in order
};

// Parses iptables-save output; comments and counters are dropped.
std::vector<IptablesTable> ParseIptablesSave(std::string_view text);

// iptables-save (ip6tables-save for kV6) of `backend` (not kAuto) inside namespace `netns`.
Result<std::vector<IptablesTable>> IptablesSave(std::string_view netns, IptablesBackend backend,
                                                IpFamily family = IpFamily::kV4);

// iptables-restore --noflush (ip6tables-restore for kV6) of `backend` inside `netns`, fed
// `script` on standard input. Errors carry the tool's own message ("... line 3 failed").
Status IptablesRestore(std::string_view netns, IptablesBackend backend, const std::string& script,
                       IpFamily family = IpFamily::kV4);

}  // namespace metastack::net
