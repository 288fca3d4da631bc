#include "net/iptables.h"

#include <unistd.h>

#include "net/command.h"

namespace metastack::net {
namespace {

struct Tools {
  std::string save;
  std::string restore;
};

Tools ToolsOf(IptablesBackend backend, IpFamily family = IpFamily::kV4) {
  std::string tool = ToolName(family, backend);
  return {tool + "-save", tool + "-restore"};
}

bool ToolsInstalled(const Tools& t) {
  return FindExecutable(t.save).has_value() && FindExecutable(t.restore).has_value();
}

Status NeedConcrete(IptablesBackend backend, IpFamily family) {
  if (backend == IptablesBackend::kAuto)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "an iptables backend (nft or legacy) must be chosen here"));
  Tools t = ToolsOf(backend, family);
  if (!ToolsInstalled(t))
    return std::unexpected(MakeError(ErrorCode::kNotFound, t.restore + ": command not found"));
  return Ok();
}

}  // namespace

std::string_view BackendName(IptablesBackend backend) {
  switch (backend) {
    case IptablesBackend::kNft:
      return "nft";
    case IptablesBackend::kLegacy:
      return "legacy";
    case IptablesBackend::kAuto:
      break;
  }
  return "auto";
}

std::string_view FamilyName(IpFamily family) { return family == IpFamily::kV6 ? "ipv6" : "ipv4"; }

std::string ToolName(IpFamily family, IptablesBackend backend) {
  return std::string(family == IpFamily::kV6 ? "ip6tables-" : "iptables-") +
         std::string(backend == IptablesBackend::kLegacy ? "legacy" : "nft");
}

bool KernelHasIpv6() { return ::access("/proc/sys/net/ipv6", F_OK) == 0; }

Result<IptablesBackend> ParseBackend(std::string_view name) {
  if (name == "nft") return IptablesBackend::kNft;
  if (name == "legacy") return IptablesBackend::kLegacy;
  if (name == "auto") return IptablesBackend::kAuto;
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument,
                "not an iptables backend (nft, legacy, auto): " + std::string(name)));
}

bool BackendAvailable(IptablesBackend backend) {
  if (backend == IptablesBackend::kAuto) return false;
  if (backend == IptablesBackend::kLegacy && geteuid() != 0 &&
      access("/proc/net/ip_tables_names", R_OK) != 0)
    return false;
  return ToolsInstalled(ToolsOf(backend));
}

std::vector<IptablesBackend> AvailableBackends() {
  std::vector<IptablesBackend> out;
  for (auto b : {IptablesBackend::kNft, IptablesBackend::kLegacy})
    if (BackendAvailable(b)) out.push_back(b);
  return out;
}

Result<IptablesBackend> DefaultBackend() {
  METASTACK_ASSIGN_OR_RETURN(std::string version, RunChecked({.argv = {"iptables", "--version"}}));
  // "iptables v1.8.9 (nf_tables)" or "iptables v1.8.9 (legacy)"; before 1.8 there was only legacy.
  if (version.find("nf_tables") != std::string::npos) return IptablesBackend::kNft;
  return IptablesBackend::kLegacy;
}

std::vector<IptablesTable> ParseIptablesSave(std::string_view text) {
  std::vector<IptablesTable> tables;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '*') {
      tables.push_back({std::string(line.substr(1)), {}, {}});
    } else if (tables.empty() || line == "COMMIT") {
      continue;
    } else if (line.front() == ':') {
      tables.back().chains.emplace_back(line.substr(1, line.find(' ') - 1));
    } else if (line.starts_with("[")) {
      // With --counters each rule starts with "[packets:bytes] ".
      size_t close = line.find("] ");
      if (close != std::string_view::npos) tables.back().rules.emplace_back(line.substr(close + 2));
    } else {
      tables.back().rules.emplace_back(line);
    }
  }
  return tables;
}

Result<std::vector<IptablesTable>> IptablesSave(std::string_view netns, IptablesBackend backend,
                                                IpFamily family) {
  METASTACK_RETURN_IF_ERROR(NeedConcrete(backend, family));
  METASTACK_ASSIGN_OR_RETURN(std::string text, RunChecked({.argv = {ToolsOf(backend, family).save},
                                                           .netns = std::string(netns)}));
  return ParseIptablesSave(text);
}

Status IptablesRestore(std::string_view netns, IptablesBackend backend, const std::string& script,
                       IpFamily family) {
  METASTACK_RETURN_IF_ERROR(NeedConcrete(backend, family));
  // --wait: legacy serializes writers with a lock file shared by every namespace.
  std::vector<std::string> argv = {ToolsOf(backend, family).restore, "--noflush"};
  if (backend == IptablesBackend::kLegacy) argv.push_back("--wait=10");
  METASTACK_ASSIGN_OR_RETURN(
      std::string ignored,
      RunChecked({.argv = argv, .netns = std::string(netns), .stdin_data = script}));
  (void)ignored;
  return Ok();
}

}  // namespace metastack::net
