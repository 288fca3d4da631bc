#include "netns_manager/setup.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include <algorithm>

#include "net/dhcp_metadata.h"
#include "net/netns.h"
#include "net/router_metadata.h"

namespace metastack::netns_manager {
namespace {

// Every binding on `network`, all pages.
Result<std::vector<store::PortBinding>> AllPorts(store::Store& store, const std::string& network) {
  std::vector<store::PortBinding> out;
  store::ListOptions options;
  options.limit = 1000;
  for (;;) {
    METASTACK_ASSIGN_OR_RETURN(auto page, store.ListPorts(network, options));
    for (auto& b : page.items) out.push_back(std::move(b));
    if (page.next.empty()) return out;
    options.after = page.next;
  }
}

}  // namespace

NamespaceState StateOfNamespace(std::string_view name) {
  if (!net::ValidateNamespaceName(name)) return NamespaceState::kAbsent;
  struct statfs fs;
  const std::string path = std::string(net::kNetnsDir) + "/" + std::string(name);
  if (::statfs(path.c_str(), &fs) != 0) return NamespaceState::kAbsent;
  return fs.f_type == NSFS_MAGIC ? NamespaceState::kReady : NamespaceState::kPending;
}

std::string V6ListenerName(std::string_view netns) { return std::string(netns) + "@v6"; }

std::vector<proxy::ListenerSpec> ListenersFor(const Target& target, const Settings& settings,
                                              std::string_view dhcp_interface) {
  proxy::ListenerSpec spec;
  spec.name = target.netns;
  spec.netns = target.netns;
  spec.id = target.id;
  if (target.kind == Kind::kRouter) {
    spec.kind = proxy::ListenerSpec::Kind::kRouter;
    spec.address = "::";
    spec.port = settings.router_port;
    return {spec};
  }
  spec.kind = proxy::ListenerSpec::Kind::kNetwork;
  spec.address = std::string(net::kMetadataAddress);
  spec.port = 80;
  std::vector<proxy::ListenerSpec> out = {spec};
  if (!dhcp_interface.empty() && net::KernelHasIpv6()) {
    spec.name = V6ListenerName(target.netns);
    spec.address = std::string(net::kMetadataAddressV6) + "%" + std::string(dhcp_interface);
    out.push_back(spec);
  }
  return out;
}

Status TargetSetup::Serve(const Target& target, const Settings& settings, Applied& applied,
                          bool verify) {
  if (target.netns.empty())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, target.problem));
  return target.kind == Kind::kRouter ? ServeRouter(target, settings, applied)
                                      : ServeNetwork(target, settings, applied, verify);
}

Status TargetSetup::ServeRouter(const Target& target, const Settings& settings, Applied& applied) {
  net::RouterMetadataConfig config;
  config.netns = target.netns;
  config.proxy_port = settings.router_port;
  // Every time: idempotent, and it puts back rules someone flushed.
  METASTACK_ASSIGN_OR_RETURN(auto installed, net::InstallRouterMetadata(config));
  (void)installed;
  applied.rules = true;
  return EnsureListeners(ListenersFor(target, settings), applied);
}

Status TargetSetup::ServeNetwork(const Target& target, const Settings& settings, Applied& applied,
                                 bool verify) {
  METASTACK_ASSIGN_OR_RETURN(auto addresses, net::ListIpv4Addresses(target.netns));
  METASTACK_ASSIGN_OR_RETURN(
      net::DhcpSubnet subnet,
      net::ChooseDhcpPort(addresses, settings.dhcp_interface_prefix, target.netns));
  std::vector<net::DhcpHost> hosts;
  std::set<std::string> instances;
  if (settings.dhcp_server == DhcpServer::kDnsmasq) {
    METASTACK_ASSIGN_OR_RETURN(auto bindings, AllPorts(store_, target.id));
    hosts = DhcpHosts(bindings, subnet);
    for (const auto& b : bindings)
      if (std::any_of(hosts.begin(), hosts.end(),
                      [&](const net::DhcpHost& h) { return h.ip == b.ip_address; }))
        instances.insert(b.instance_id);
    subnet.gateway = GatewayOf(bindings, subnet);
  }
  // Nothing to hand out yet: the address and the listener only, until a port appears.
  const bool dnsmasq = settings.dhcp_server == DhcpServer::kDnsmasq && !hosts.empty();
  bool current = applied.dhcp && applied.subnet == subnet && applied.hosts == hosts &&
                 applied.dnsmasq == dnsmasq;
  if (current && verify) {
    METASTACK_ASSIGN_OR_RETURN(auto recorded,
                               net::ListDhcpMetadata(settings.dhcp_state_dir, target.netns));
    METASTACK_ASSIGN_OR_RETURN(bool address,
                               net::HasMetadataAddress(target.netns, subnet.interface));
    current = address && recorded.size() == 1 && (!dnsmasq || recorded[0].dnsmasq_pid != 0);
    if (current && recorded[0].address6_added) {
      METASTACK_ASSIGN_OR_RETURN(
          current, net::HasMetadataAddress(target.netns, subnet.interface, net::IpFamily::kV6));
    }
  }
  if (!current) {
    net::DhcpMetadataSetup setup;
    setup.netns = target.netns;
    setup.subnet = subnet;
    setup.start_dnsmasq = dnsmasq;
    setup.dnsmasq.hosts = hosts;
    setup.state_dir = settings.dhcp_state_dir;
    applied.dhcp = true;  // even if it fails half-way: there may be something to tear down
    applied.subnet = {};
    METASTACK_ASSIGN_OR_RETURN(auto state, net::SetupDhcpMetadata(setup));
    (void)state;
    applied.subnet = subnet;
    applied.hosts = hosts;
    applied.dnsmasq = dnsmasq;
  }
  applied.instances = std::move(instances);
  return EnsureListeners(ListenersFor(target, settings, subnet.interface), applied);
}

std::string TargetSetup::GatewayOf(const std::vector<store::PortBinding>& bindings,
                                   const net::DhcpSubnet& subnet) {
  auto net = net::ParseIpv4Net(subnet.subnet);
  for (const auto& b : bindings) {
    auto ip = net::ParseIpv4(b.ip_address);
    if (!ip || !net->Contains(*ip)) continue;
    auto record = store_.GetInstance(b.instance_id);
    if (!record) continue;
    for (const auto& port : record->instance.ports) {
      if (port.id != b.port_id) continue;
      for (const auto& s : port.subnets) {
        if (s.ip_address != b.ip_address || !s.gateway_ip) continue;
        auto gateway = net::ParseIpv4(*s.gateway_ip);
        // A gateway dnsmasq cannot hand out (outside the subnet, or the DHCP port's own
        // address) is left out rather than failing the namespace.
        if (gateway && net->Contains(*gateway) && *s.gateway_ip != subnet.dhcp_ip)
          return *s.gateway_ip;
        return "";
      }
    }
    return "";  // the first guest in the subnet speaks for it
  }
  return "";
}

Status TargetSetup::EnsureListeners(const std::vector<proxy::ListenerSpec>& specs,
                                    Applied& applied) {
  applied.listener = false;
  for (const auto& spec : specs) {
    if (auto open = proxy_.Find(spec.name)) {
      if (open->origin != proxy::NsProxy::Origin::kManaged)
        return std::unexpected(MakeError(ErrorCode::kConflict,
                                         "listener " + spec.name + " is already open (" +
                                             std::string(proxy::NsProxy::OriginName(open->origin)) +
                                             "); left alone"));
      if (open->spec == spec) continue;
      METASTACK_RETURN_IF_ERROR(proxy_.RemoveFrom(spec.name, proxy::NsProxy::Origin::kManaged));
    }
    METASTACK_ASSIGN_OR_RETURN(uint16_t port, proxy_.Add(spec, proxy::NsProxy::Origin::kManaged));
    (void)port;
  }
  applied.listener = true;
  return Ok();
}

Status TargetSetup::Unserve(const Target& target, const Settings& settings, Applied& applied) {
  // Whatever opened, even when not all did (applied.listener is set only when all are).
  for (const auto& name : {target.netns, V6ListenerName(target.netns)}) {
    auto removed = proxy_.RemoveFrom(name, proxy::NsProxy::Origin::kManaged);
    if (!removed && removed.error().code != ErrorCode::kNotFound) return removed;
  }
  applied.listener = false;
  if (applied.rules) {
    if (StateOfNamespace(target.netns) == NamespaceState::kReady)
      METASTACK_RETURN_IF_ERROR(net::RemoveRouterMetadata(target.netns));
    applied.rules = false;
  }
  if (applied.dhcp) {
    METASTACK_ASSIGN_OR_RETURN(auto undone,
                               net::TeardownDhcpMetadata(settings.dhcp_state_dir, target.netns));
    (void)undone;
    applied = Applied{};
  }
  return Ok();
}

}  // namespace metastack::netns_manager
