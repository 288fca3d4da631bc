#include "core/network_data.h"

#include <algorithm>
#include <array>

#include "core/ip.h"

namespace metastack::core {
namespace {

// VIF types Nova names as such in network_data.json; any other becomes "phy".
constexpr std::array<std::string_view, 8> kLegacyVifTypes = {"bridge", "dvs", "hw_veb",    "hyperv",
                                                             "ovs",    "tap", "vhostuser", "vif"};

const Subnet* FirstSubnet(const Port& port, int version) {
  for (const auto& s : port.subnets)
    if (s.version == version) return &s;
  return nullptr;
}

Json DnsServices(const Subnet& subnet) {
  Json services = Json::array();
  for (const auto& dns : subnet.dns_nameservers)
    services.push_back(Json{{"type", "dns"}, {"address", dns}});
  return services;
}

Json Link(const Port& port, int ifc_num) {
  bool legacy = std::find(kLegacyVifTypes.begin(), kLegacyVifTypes.end(), port.vif_type) !=
                kLegacyVifTypes.end();
  Json mtu = nullptr;
  bool any_dhcp = std::any_of(port.subnets.begin(), port.subnets.end(), [](const Subnet& s) {
    auto server = s.EffectiveDhcpServer();
    return server && !server->empty();
  });
  if (!any_dhcp && port.mtu) mtu = *port.mtu;
  Json link;
  link["id"] = port.devname.empty() ? "interface" + std::to_string(ifc_num) : port.devname;
  link["vif_id"] = port.id;
  link["type"] = legacy ? port.vif_type : "phy";
  link["mtu"] = mtu;
  link["ethernet_mac_address"] = port.mac;
  return link;
}

Json Network(const Port& port, const Subnet& subnet, int net_num, const std::string& link_id) {
  std::string type_suffix;
  Json net;
  net["id"] = "network" + std::to_string(net_num);
  std::string version = std::to_string(subnet.version);
  if (subnet.ipv6_address_mode) {
    type_suffix = "_" + *subnet.ipv6_address_mode;
  } else if (subnet.EffectiveDhcpServer()) {
    net["type"] = "ipv" + version + "_dhcp";
    net["link"] = link_id;
    net["network_id"] = port.network_id;
    return net;
  }
  Cidr cidr = *ParseCidr(subnet.cidr);
  net["type"] = "ipv" + version + type_suffix;
  net["link"] = link_id;
  net["ip_address"] = *subnet.ip_address;
  net["netmask"] = cidr.Netmask().ToString();
  Json routes = Json::array();
  if (subnet.gateway_ip && !subnet.gateway_ip->empty()) {
    std::string any = subnet.version == 4 ? "0.0.0.0" : "::";
    routes.push_back(Json{{"network", any}, {"netmask", any}, {"gateway", *subnet.gateway_ip}});
  }
  for (const auto& route : subnet.host_routes) {
    Cidr dest = *ParseCidr(route.destination);
    routes.push_back(Json{{"network", dest.Network().ToString()},
                          {"netmask", dest.Netmask().ToString()},
                          {"gateway", route.nexthop}});
  }
  net["routes"] = std::move(routes);
  net["network_id"] = port.network_id;
  net["services"] = DnsServices(subnet);
  return net;
}

std::string JoinDns(const Subnet& s) {
  std::string out;
  for (const auto& d : s.dns_nameservers) {
    if (!out.empty()) out += ' ';
    out += d;
  }
  return out;
}

}  // namespace

std::optional<Json> NetworkData(const Instance& instance) {
  if (instance.ports.empty()) return std::nullopt;
  Json links = Json::array();
  Json networks = Json::array();
  Json services = Json::array();
  int ifc_num = -1;
  int net_num = -1;
  for (const auto& port : instance.ports) {
    if (port.subnets.empty()) continue;
    ++ifc_num;
    Json link = Link(port, ifc_num);
    std::string link_id = link["id"].get<std::string>();
    links.push_back(std::move(link));
    for (int version : {4, 6}) {
      const Subnet* subnet = FirstSubnet(port, version);
      if (!subnet || !subnet->ip_address) continue;
      networks.push_back(Network(port, *subnet, ++net_num, link_id));
      for (auto& dns : DnsServices(*subnet))
        if (std::find(services.begin(), services.end(), dns) == services.end())
          services.push_back(std::move(dns));
    }
  }
  Json out;
  out["links"] = std::move(links);
  out["networks"] = std::move(networks);
  out["services"] = std::move(services);
  return out;
}

std::optional<std::string> InjectedInterfaces(const Instance& instance) {
  struct Interface {
    std::string name, hwaddress;
    std::optional<std::string> address, netmask, broadcast, address_v6, netmask_v6;
    std::string gateway, dns, gateway_v6, dns_v6;
  };
  std::vector<Interface> nets;
  bool use_ipv6 = false;
  int ifc_num = -1;
  for (const auto& port : instance.ports) {
    if (port.subnets.empty()) continue;
    ++ifc_num;
    if (!port.injected) continue;
    const Subnet* v4 = FirstSubnet(port, 4);
    const Subnet* v6 = FirstSubnet(port, 6);
    if ((v4 && v4->EffectiveDhcpServer()) || (v6 && v6->EffectiveDhcpServer())) continue;
    Interface ifc;
    ifc.name = "eth" + std::to_string(ifc_num);
    ifc.hwaddress = port.mac;
    if (v4 && v4->ip_address) {
      Cidr cidr = *ParseCidr(v4->cidr);
      ifc.address = *v4->ip_address;
      ifc.netmask = cidr.Netmask().ToString();
      ifc.gateway = v4->gateway_ip.value_or("");
      auto broadcast = cidr.Broadcast();
      ifc.broadcast = broadcast ? broadcast->ToString() : "None";
      ifc.dns = JoinDns(*v4);
    }
    if (v6 && v6->ip_address) {
      use_ipv6 = true;
      ifc.address_v6 = *v6->ip_address;
      ifc.netmask_v6 = std::to_string(ParseCidr(v6->cidr)->prefix);
      ifc.gateway_v6 = v6->gateway_ip.value_or("");
      ifc.dns_v6 = JoinDns(*v6);
    }
    nets.push_back(std::move(ifc));
  }
  if (nets.empty()) return std::nullopt;
  // Nova's interfaces.template, rendered by Jinja with trim_blocks.
  std::string out =
      "# Injected by Nova on instance boot\n"
      "#\n"
      "# This file describes the network interfaces available on your system\n"
      "# and how to activate them. For more information, see interfaces(5).\n"
      "\n"
      "# The loopback network interface\n"
      "auto lo\n"
      "iface lo inet loopback\n";
  for (const auto& ifc : nets) {
    out += "\nauto " + ifc.name + "\n";
    if (ifc.address && !ifc.address->empty()) {
      out += "iface " + ifc.name + " inet static\n";
      out += "    hwaddress ether " + ifc.hwaddress + "\n";
      out += "    address " + *ifc.address + "\n";
      out += "    netmask " + *ifc.netmask + "\n";
      out += "    broadcast " + *ifc.broadcast + "\n";
      if (!ifc.gateway.empty()) out += "    gateway " + ifc.gateway + "\n";
      if (!ifc.dns.empty()) out += "    dns-nameservers " + ifc.dns + "\n";
    }
    if (use_ipv6 && ifc.address_v6 && !ifc.address_v6->empty()) {
      out += "iface " + ifc.name + " inet6 static\n";
      out += "    hwaddress ether " + ifc.hwaddress + "\n";
      out += "    address " + *ifc.address_v6 + "\n";
      out += "    netmask " + *ifc.netmask_v6 + "\n";
      if (!ifc.gateway_v6.empty()) out += "    gateway " + ifc.gateway_v6 + "\n";
      if (!ifc.dns_v6.empty()) out += "    dns-nameservers " + ifc.dns_v6 + "\n";
    }
  }
  return out;
}

Ec2IpInfo Ec2Addresses(const Instance& instance) {
  Ec2IpInfo info;
  for (const auto& port : instance.ports)
    for (const auto& subnet : port.subnets)
      if (subnet.version == 4 && subnet.ip_address) info.fixed_ipv4.push_back(*subnet.ip_address);
  if (instance.ec2.public_ipv4 && !info.fixed_ipv4.empty())
    info.floating_ipv4.push_back(*instance.ec2.public_ipv4);
  return info;
}

}  // namespace metastack::core
