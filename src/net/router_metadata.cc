#include "net/router_metadata.h"

#include <algorithm>
#include <cstdio>

#include "net/netns.h"

namespace metastack::net {
namespace {

// Our chains, and the built-in chain that jumps to each (nullptr: reached from one of ours).
struct ChainSpec {
  const char* table;
  const char* builtin;
  const char* suffix;
};
constexpr ChainSpec kChains[] = {
    {"mangle", "PREROUTING", "PREROUTING"}, {"nat", "PREROUTING", "PREROUTING"},
    {"filter", "INPUT", "INPUT"},           {"filter", "FORWARD", "FORWARD"},
    {"filter", nullptr, "scope"},
};
constexpr const char* kTables[] = {"mangle", "nat", "filter"};

// iptables-save's longest chain name is 28 characters; "-PREROUTING" takes 11 of them.
constexpr size_t kMaxChainPrefix = 17;
constexpr size_t kMaxInterfacePrefix = 14;  // IFNAMSIZ - 1, less the '+' wildcard

std::string ChainName(std::string_view prefix, const ChainSpec& spec) {
  return std::string(prefix) + "-" + spec.suffix;
}

std::string Jump(const ChainSpec& spec, std::string_view prefix) {
  return std::string("-A ") + spec.builtin + " -j " + ChainName(prefix, spec);
}

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

bool IsOurChain(std::string_view table, std::string_view chain, std::string_view prefix) {
  return std::any_of(std::begin(kChains), std::end(kChains), [&](const ChainSpec& s) {
    return s.table == table && ChainName(prefix, s) == chain;
  });
}

bool IsOurJump(std::string_view table, std::string_view rule, std::string_view prefix) {
  return std::any_of(std::begin(kChains), std::end(kChains), [&](const ChainSpec& s) {
    return s.table == table && s.builtin && Jump(s, prefix) == rule;
  });
}

// The chain a "-A CHAIN ..." line appends to.
std::string_view RuleChain(std::string_view rule) {
  if (!rule.starts_with("-A ")) return {};
  rule.remove_prefix(3);
  return rule.substr(0, rule.find(' '));
}

// Our chains and rules in one backend's tables of one family, in iptables-save order.
std::vector<RuleLine> Ours(const std::vector<IptablesTable>& tables, std::string_view prefix,
                           IpFamily family) {
  std::vector<RuleLine> out;
  for (const auto& t : tables) {
    for (const auto& c : t.chains)
      if (IsOurChain(t.name, c, prefix)) out.push_back({t.name, ":" + c, family});
    for (const auto& r : t.rules)
      if (IsOurChain(t.name, RuleChain(r), prefix) || IsOurJump(t.name, r, prefix))
        out.push_back({t.name, r, family});
  }
  return out;
}

// The families whose rules matter here: IPv6 only when the kernel has it.
std::vector<IpFamily> Families() {
  if (KernelHasIpv6()) return {IpFamily::kV4, IpFamily::kV6};
  return {IpFamily::kV4};
}

// The iptables-restore script that makes `rules` ours in `tables` (what is there now).
std::string InstallScript(const RouterMetadataConfig& config, const std::vector<RuleLine>& rules,
                          const std::vector<IptablesTable>& tables) {
  std::string script;
  for (const char* table : kTables) {
    const IptablesTable* existing = nullptr;
    for (const auto& t : tables)
      if (t.name == table) existing = &t;
    script += std::string("*") + table + "\n";
    // Declaring an existing chain under --noflush empties it: our chains are rewritten whole,
    // in the same commit, so there is no moment without the rules.
    for (const auto& spec : kChains)
      if (spec.table == std::string_view(table))
        script += ":" + ChainName(config.chain_prefix, spec) + " - [0:0]\n";
    for (const auto& r : rules) {
      if (r.table != table) continue;
      if (!IsOurJump(table, r.line, config.chain_prefix)) {
        script += r.line + "\n";
      } else if (!existing || std::find(existing->rules.begin(), existing->rules.end(), r.line) ==
                                  existing->rules.end()) {
        script += "-I " + r.line.substr(3) + "\n";  // -I without a number: first in the chain
      }
    }
    script += "COMMIT\n";
  }
  return script;
}

// The iptables-restore script that removes `lines` (what List found of one family).
std::string RemoveScript(const std::vector<RuleLine>& lines, IpFamily family,
                         std::string_view prefix) {
  std::string script;
  for (const char* table : kTables) {
    std::string flush, unjump, drop;
    for (const auto& l : lines) {
      if (l.table != table || l.family != family) continue;
      if (l.line.starts_with(":")) {
        // Emptied first: our FORWARD chain jumps to our scope chain, and a chain still
        // referenced cannot be deleted.
        flush += l.line + " - [0:0]\n";
        drop += "-X " + l.line.substr(1) + "\n";
      } else if (IsOurJump(table, l.line, prefix)) {
        unjump += "-D " + l.line.substr(3) + "\n";
      }
    }
    if (!flush.empty() || !unjump.empty())
      script += std::string("*") + table + "\n" + flush + unjump + drop + "COMMIT\n";
  }
  return script;
}

bool ValidName(std::string_view s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

Status NeedNamespace(std::string_view netns) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(netns));
  if (!NamespaceExists(netns))
    return std::unexpected(
        MakeError(ErrorCode::kNotFound, "netns " + std::string(netns) + ": no such namespace"));
  return Ok();
}

Result<std::vector<IptablesBackend>> BackendsToSearch(IptablesBackend backend) {
  if (backend != IptablesBackend::kAuto) return std::vector{backend};
  auto all = AvailableBackends();
  if (all.empty())
    return std::unexpected(MakeError(ErrorCode::kNotFound,
                                     "neither iptables-nft-restore nor iptables-legacy-restore "
                                     "is installed"));
  return all;
}

}  // namespace

Status ValidateRouterConfig(const RouterMetadataConfig& c) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(c.netns));
  if (c.proxy_port == 0) return InvalidField("proxy_port", "must be 1-65535");
  if (!ValidName(c.interface_prefix, kMaxInterfacePrefix))
    return InvalidField("interface_prefix", "1-14 of A-Z a-z 0-9 _ . -");
  if (c.mark_mask == 0 || c.mark == 0 || (c.mark & ~c.mark_mask) != 0)
    return InvalidField("mark", "must be non-zero and inside mark_mask");
  if (!ValidName(c.chain_prefix, kMaxChainPrefix) || c.chain_prefix.front() == '-')
    return InvalidField("chain_prefix", "1-17 of A-Z a-z 0-9 _ . -");
  return Ok();
}

std::vector<RuleLine> RouterMetadataRules(const RouterMetadataConfig& c, IpFamily family) {
  const std::string& p = c.chain_prefix;
  const std::string mark = Hex(c.mark) + "/" + Hex(c.mark_mask);
  const std::string address = family == IpFamily::kV6 ? std::string(kMetadataAddressV6) + "/128"
                                                      : std::string(kMetadataAddress) + "/32";
  const std::string match =
      "-d " + address + " -i " + c.interface_prefix + "+ -p tcp -m tcp --dport 80";
  const std::string port = std::to_string(c.proxy_port);
  const ChainSpec& mangle = kChains[0];
  const ChainSpec& nat = kChains[1];
  const ChainSpec& input = kChains[2];
  const ChainSpec& forward = kChains[3];
  const ChainSpec& scope = kChains[4];
  std::vector<RuleLine> rules = {
      {"mangle", Jump(mangle, p)},
      {"mangle", "-A " + ChainName(p, mangle) + " " + match + " -j MARK --set-xmark " + mark},
      {"nat", Jump(nat, p)},
      {"nat", "-A " + ChainName(p, nat) + " " + match + " -j REDIRECT --to-ports " + port},
      {"filter", Jump(input, p)},
      {"filter", Jump(forward, p)},
      {"filter", "-A " + ChainName(p, input) + " -m mark --mark " + mark + " -j ACCEPT"},
      {"filter", "-A " + ChainName(p, input) + " -p tcp -m tcp --dport " + port + " -j DROP"},
      {"filter", "-A " + ChainName(p, forward) + " -j " + ChainName(p, scope)},
      {"filter", "-A " + ChainName(p, scope) + " -m mark --mark " + mark + " -j DROP"},
  };
  for (auto& r : rules) r.family = family;
  return rules;
}

Result<RouterInstall> InstallRouterMetadata(const RouterMetadataConfig& config) {
  METASTACK_RETURN_IF_ERROR(ValidateRouterConfig(config));
  METASTACK_RETURN_IF_ERROR(NeedNamespace(config.netns));
  const auto families = Families();
  IptablesBackend backend = config.backend;
  if (backend == IptablesBackend::kAuto) {
    // Where our chains already are, so that a re-install updates them in place instead of
    // leaving a second copy in the other backend.
    METASTACK_ASSIGN_OR_RETURN(auto installed,
                               ListRouterMetadata(config.netns, backend, config.chain_prefix));
    if (!installed.empty()) {
      backend = installed.front().backend;
    } else {
      METASTACK_ASSIGN_OR_RETURN(backend, DefaultBackend());
    }
  }
  for (IpFamily family : families) {
    METASTACK_ASSIGN_OR_RETURN(auto tables, IptablesSave(config.netns, backend, family));
    METASTACK_RETURN_IF_ERROR(IptablesRestore(
        config.netns, backend, InstallScript(config, RouterMetadataRules(config, family), tables),
        family));
  }
  // Switching backends must not leave a second copy behind in the other one.
  for (auto other : AvailableBackends()) {
    if (other == backend) continue;
    METASTACK_ASSIGN_OR_RETURN(auto removed,
                               RemoveRouterMetadata(config.netns, other, config.chain_prefix));
    (void)removed;
  }
  return RouterInstall{backend, families.size() > 1};
}

Result<std::vector<InstalledRules>> ListRouterMetadata(std::string_view netns,
                                                       IptablesBackend backend,
                                                       std::string_view chain_prefix) {
  METASTACK_RETURN_IF_ERROR(NeedNamespace(netns));
  METASTACK_ASSIGN_OR_RETURN(auto backends, BackendsToSearch(backend));
  std::vector<InstalledRules> out;
  for (auto b : backends) {
    InstalledRules found{b, {}};
    for (IpFamily family : Families()) {
      METASTACK_ASSIGN_OR_RETURN(auto tables, IptablesSave(netns, b, family));
      auto ours = Ours(tables, chain_prefix, family);
      found.lines.insert(found.lines.end(), ours.begin(), ours.end());
    }
    if (!found.lines.empty()) out.push_back(std::move(found));
  }
  return out;
}

Result<std::vector<InstalledRules>> RemoveRouterMetadata(std::string_view netns,
                                                         IptablesBackend backend,
                                                         std::string_view chain_prefix) {
  METASTACK_ASSIGN_OR_RETURN(auto installed, ListRouterMetadata(netns, backend, chain_prefix));
  for (const auto& [b, lines] : installed) {
    for (IpFamily family : Families()) {
      std::string script = RemoveScript(lines, family, chain_prefix);
      if (!script.empty()) METASTACK_RETURN_IF_ERROR(IptablesRestore(netns, b, script, family));
    }
  }
  return installed;
}

}  // namespace metastack::net
