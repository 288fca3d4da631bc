#include "net/iptables.h"

#include "net/command.h"

namespace metastack::net {
namespace {

struct Tools {
  const char* save;
  const char* restore;
};

Tools ToolsOf(IptablesBackend backend) {
  if (backend == IptablesBackend::kLegacy)
    return {"iptables-legacy-save", "iptables-legacy-restore"};
  return {"iptables-nft-save", "iptables-nft-restore"};
}

Status NeedConcrete(IptablesBackend backend) {
  if (backend == IptablesBackend::kAuto)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "an iptables backend (nft or legacy) must be chosen here"));
  if (!BackendAvailable(backend))
    return std::unexpected(MakeError(
        ErrorCode::kNotFound, std::string(ToolsOf(backend).restore) + ": command not found"));
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
  Tools t = ToolsOf(backend);
  return FindExecutable(t.save).has_value() && FindExecutable(t.restore).has_value();
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

Result<std::vector<IptablesTable>> IptablesSave(std::string_view netns, IptablesBackend backend) {
  METASTACK_RETURN_IF_ERROR(NeedConcrete(backend));
  METASTACK_ASSIGN_OR_RETURN(
      std::string text, RunChecked({.argv = {ToolsOf(backend).save}, .netns = std::string(netns)}));
  return ParseIptablesSave(text);
}

Status IptablesRestore(std::string_view netns, IptablesBackend backend, const std::string& script) {
  METASTACK_RETURN_IF_ERROR(NeedConcrete(backend));
  // --wait: legacy serializes writers with a lock file shared by every namespace.
  std::vector<std::string> argv = {ToolsOf(backend).restore, "--noflush"};
  if (backend == IptablesBackend::kLegacy) argv.push_back("--wait=10");
  METASTACK_ASSIGN_OR_RETURN(
      std::string ignored,
      RunChecked({.argv = argv, .netns = std::string(netns), .stdin_data = script}));
  (void)ignored;
  return Ok();
}

}  // namespace metastack::net
