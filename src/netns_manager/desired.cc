#include "netns_manager/desired.h"

#include <algorithm>
#include <tuple>

#include "net/netns.h"

namespace metastack::netns_manager {
namespace {

Status Bad(std::string_view flag, std::string message) {
  return InvalidField(std::string(flag), std::move(message));
}

}  // namespace

std::string_view KindName(Kind kind) { return kind == Kind::kRouter ? "router" : "network"; }

std::string_view DhcpServerName(DhcpServer server) {
  return server == DhcpServer::kDnsmasq ? "dnsmasq" : "none";
}

std::optional<DhcpServer> ParseDhcpServer(std::string_view name) {
  if (name == "none") return DhcpServer::kNone;
  if (name == "dnsmasq") return DhcpServer::kDnsmasq;
  return std::nullopt;
}

Status ValidateNamespaceFormat(std::string_view format, std::string_view flag) {
  size_t at = format.find(kIdPlaceholder);
  if (at == std::string_view::npos || format.find(kIdPlaceholder, at + 1) != std::string_view::npos)
    return Bad(flag, "expected exactly one {id} in " + std::string(format));
  // With a one-character id, the rest must already be a valid name.
  if (auto sample = NamespaceName(format, "x"); !sample)
    return Bad(flag, std::string(format) +
                         " makes no valid namespace name (1-64 of A-Z a-z 0-9 "
                         "_ . -)");
  return Ok();
}

Result<std::string> NamespaceName(std::string_view format, std::string_view id) {
  std::string name(format);
  size_t at = name.find(kIdPlaceholder);
  if (at != std::string::npos) name.replace(at, kIdPlaceholder.size(), id);
  if (auto valid = net::ValidateNamespaceName(name); !valid)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "namespace " + name + ": " + valid.error().message));
  return name;
}

Status ValidateSettings(const Settings& s) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceFormat(s.router_namespace, "--router-namespace"));
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceFormat(s.network_namespace, "--network-namespace"));
  if (s.router_namespace == s.network_namespace)
    return Bad("--network-namespace", "must differ from --router-namespace");
  if (s.host.empty()) return Bad("--host", "is empty");
  if (!s.dhcp_interface_prefix.empty()) {
    if (auto valid = net::ValidateInterfaceName(s.dhcp_interface_prefix); !valid)
      return Bad("--dhcp-interface-prefix", valid.error().message);
  }
  if (s.dhcp_state_dir.empty() || s.dhcp_state_dir.front() != '/')
    return Bad("--dhcp-state-dir", "expected an absolute path");
  if (s.router_port == 0) return Bad("--router-port", "must be a port from 1 to 65535");
  if (s.resync_interval < std::chrono::seconds(1))
    return Bad("--resync-interval", "must be at least 1 second");
  return Ok();
}

bool ServedHere(std::string_view assigned, std::string_view host) {
  return assigned.empty() || assigned == host;
}

namespace {

Target MakeTarget(Kind kind, const std::string& id, const std::string& format) {
  Target t{kind, id, "", ""};
  if (auto name = NamespaceName(format, id))
    t.netns = *name;
  else
    t.problem = name.error().message;
  return t;
}

}  // namespace

std::optional<Target> RouterTarget(const store::Router& router, const Settings& settings) {
  if (!ServedHere(router.host, settings.host)) return std::nullopt;
  return MakeTarget(Kind::kRouter, router.id, settings.router_namespace);
}

std::optional<Target> NetworkTarget(const store::Network& network, const Settings& settings) {
  if (!ServedHere(network.host, settings.host)) return std::nullopt;
  if (network.router_id && !settings.force_metadata) return std::nullopt;
  return MakeTarget(Kind::kNetwork, network.id, settings.network_namespace);
}

std::vector<net::DhcpHost> DhcpHosts(const std::vector<store::PortBinding>& bindings,
                                     const net::DhcpSubnet& subnet) {
  std::vector<std::tuple<uint32_t, std::string, std::string>> found;
  auto net = net::ParseIpv4Net(subnet.subnet);
  if (!net) return {};
  for (const auto& b : bindings) {
    auto ip = net::ParseIpv4(b.ip_address);
    // Only guests' addresses: not the subnet's own, its broadcast or the DHCP port's.
    if (!ip || !net->Contains(*ip) || *ip == net->address || *ip == (net->address | ~net->Mask()) ||
        b.ip_address == subnet.dhcp_ip)
      continue;
    auto parsed = net::ParseDhcpHost(b.mac + "," + b.ip_address);
    if (!parsed) continue;
    found.emplace_back(*ip, parsed->mac, parsed->ip);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  std::vector<net::DhcpHost> hosts;
  for (auto& [_, mac, ip] : found) hosts.push_back({std::move(mac), std::move(ip), ""});
  return hosts;
}

}  // namespace metastack::netns_manager
