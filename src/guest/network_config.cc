#include "guest/network_config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "guest/network_model.h"

namespace metastack::guest {
namespace {

constexpr std::string_view kNetworkdDir = "/etc/systemd/network/10-metastack-";

std::string CidrText(const Cidr& cidr) { return cidr.address + "/" + std::to_string(cidr.prefix); }

void AppendUnique(std::vector<std::string>& to, const std::vector<std::string>& values) {
  for (const std::string& v : values)
    if (std::find(to.begin(), to.end(), v) == to.end()) to.push_back(v);
}

std::string Joined(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& v : values) out += (out.empty() ? "" : " ") + v;
  return out;
}

// networkd's DHCP=: stateful DHCPv6 counts as DHCPv6 (convert_net_json's intent; cloud-init's
// networkd renderer leaves it at "no").
std::string NetworkdDhcp(const Link& link) {
  bool v4 = false, v6 = false;
  for (const Network& n : link.networks) {
    v4 |= n.kind == NetworkKind::kDhcp4;
    v6 |= n.kind == NetworkKind::kDhcp6 || n.kind == NetworkKind::kDhcp6Stateful;
  }
  return v4 && v6 ? "yes" : v4 ? "ipv4" : v6 ? "ipv6" : "no";
}

// Sections in the order written; a name may repeat ([Address], [Route]).
class IniFile {
 public:
  void Section(std::string_view name) {
    if (!text_.empty()) text_ += "\n";
    text_ += "[" + std::string(name) + "]\n";
  }
  void Set(std::string_view key, const std::string& value) {
    text_ += std::string(key) + "=" + value + "\n";
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string NetworkdNetwork(const Link& link, const NetworkModel& model) {
  IniFile f;
  f.Section("Match");
  if (link.kind == LinkKind::kEthernet) {
    // Type=ether: a VLAN or bond may carry the same MAC, and must not match this file.
    f.Set("MACAddress", link.mac);
    if (link.name_known) f.Set("Name", link.name);
    f.Set("Type", "ether");
  } else {
    f.Set("Name", link.name);
  }
  if (link.mtu) {
    f.Section("Link");
    f.Set("MTUBytes", std::to_string(*link.mtu));
  }
  f.Section("Network");
  if (!link.bond_master.empty()) {
    f.Set("Bond", link.bond_master);
    return f.Take();
  }
  f.Set("DHCP", NetworkdDhcp(link));
  if (link.accept_ra) f.Set("IPv6AcceptRA", *link.accept_ra ? "yes" : "no");
  for (const std::string& vlan : link.vlans) f.Set("VLAN", vlan);
  std::vector<std::string> dns, search;
  for (const Network& n : link.networks) {
    AppendUnique(dns, n.dns);
    AppendUnique(search, n.search);
  }
  AppendUnique(dns, model.dns);
  AppendUnique(search, model.search);
  if (!dns.empty()) f.Set("DNS", Joined(dns));
  if (!search.empty()) f.Set("Domains", Joined(search));
  for (const Network& n : link.networks) {
    if (!n.address) continue;
    f.Section("Address");
    f.Set("Address", CidrText(*n.address));
  }
  for (const Network& n : link.networks) {
    for (const Route& r : n.routes) {
      f.Section("Route");
      f.Set("Destination", CidrText(r.destination));
      f.Set("Gateway", r.gateway);
      if (r.metric) f.Set("Metric", std::to_string(*r.metric));
    }
  }
  return f.Take();
}

std::string NetworkdNetdev(const Link& link) {
  IniFile f;
  f.Section("NetDev");
  f.Set("Name", link.name);
  f.Set("Kind", link.kind == LinkKind::kVlan ? "vlan" : "bond");
  if (!link.mac.empty()) f.Set("MACAddress", link.mac);
  if (link.kind == LinkKind::kVlan) {
    f.Section("VLAN");
    f.Set("Id", std::to_string(link.vlan_id));
  } else if (!link.bond_mode.empty() || link.bond_miimon || !link.bond_xmit_hash_policy.empty()) {
    f.Section("Bond");
    if (!link.bond_mode.empty()) f.Set("Mode", link.bond_mode);
    if (link.bond_miimon) f.Set("MIIMonitorSec", std::to_string(*link.bond_miimon) + "ms");
    if (!link.bond_xmit_hash_policy.empty())
      f.Set("TransmitHashPolicy", link.bond_xmit_hash_policy);
  }
  return f.Take();
}

// ifupdown: "post-up"/"pre-down" pairs with ip(8) (ifupdown depends on iproute2; cloud-init's
// route(8) lines need net-tools, which Debian does not install by default). "|| true" as
// cloud-init writes it: a route the kernel refuses leaves the interface up.
void IfupdownRoute(std::string& out, const Route& r, const std::string& dev) {
  std::string spec = std::string(r.destination.v6 ? "-6" : "-4") + " route %s " +
                     CidrText(r.destination) + " via " + r.gateway + " dev " + dev;
  if (r.metric) spec += " metric " + std::to_string(*r.metric);
  for (auto [hook, verb] : {std::pair{"post-up", "add"}, std::pair{"pre-down", "del"}}) {
    std::string line = spec;
    line.replace(line.find("%s"), 2, verb);
    out += std::string("    ") + hook + " ip " + line + " || true\n";
  }
}

// Options that belong to the interface rather than to one address family; written once, in
// its first stanza (as cloud-init does). A bond's settings go on its members too, as
// cloud-init writes them (ifenslave reads them from either).
std::string IfupdownLinkOptions(const Link& link) {
  std::string out;
  auto opt = [&](std::string_view key, const std::string& value) {
    out += "    " + std::string(key) + " " + value + "\n";
  };
  if (link.kind != LinkKind::kEthernet && !link.mac.empty()) opt("hwaddress", link.mac);
  if (link.mtu) opt("mtu", std::to_string(*link.mtu));
  if (link.kind == LinkKind::kVlan) opt("vlan-raw-device", link.vlan_parent);
  if (!link.bond_master.empty()) opt("bond-master", link.bond_master);
  if (link.kind == LinkKind::kBond) opt("bond-slaves", "none");
  return out;
}

std::string IfupdownBondOptions(const Link& bond) {
  std::string out;
  if (!bond.bond_mode.empty()) out += "    bond-mode " + bond.bond_mode + "\n";
  if (bond.bond_miimon) out += "    bond-miimon " + std::to_string(*bond.bond_miimon) + "\n";
  if (!bond.bond_xmit_hash_policy.empty())
    out += "    bond-xmit-hash-policy " + bond.bond_xmit_hash_policy + "\n";
  return out;
}

std::string IfupdownStanzas(const Link& link, const Link* bond) {
  std::string link_options = IfupdownLinkOptions(link) + (bond ? IfupdownBondOptions(*bond) : "");
  if (link.networks.empty()) {
    std::string out;
    if (bond) out += "auto " + link.name + "\n";
    return out + "iface " + link.name + " inet manual\n" + link_options;
  }
  std::string out;
  for (size_t i = 0; i < link.networks.size(); ++i) {
    const Network& n = link.networks[i];
    bool v6 = n.kind != NetworkKind::kDhcp4 && (n.kind != NetworkKind::kStatic || n.address->v6);
    std::string method = n.kind == NetworkKind::kStatic ? "static"
                         : n.kind == NetworkKind::kSlaac || n.kind == NetworkKind::kDhcp6Stateless
                             ? "auto"
                             : "dhcp";
    if (i > 0) out += "\n";
    if (i == 0) out += "auto " + link.name + "\n";
    out += "iface " + link.name + (v6 ? " inet6 " : " inet ") + method + "\n";
    if (n.address) out += "    address " + CidrText(*n.address) + "\n";
    if (!n.dns.empty()) out += "    dns-nameservers " + Joined(n.dns) + "\n";
    if (!n.search.empty()) out += "    dns-search " + Joined(n.search) + "\n";
    if (n.kind == NetworkKind::kSlaac) out += "    dhcp 0\n";
    if (n.kind == NetworkKind::kDhcp6Stateless) out += "    dhcp 1\n";
    bool takes_accept_ra = n.kind == NetworkKind::kDhcp6 || n.kind == NetworkKind::kDhcp6Stateful ||
                           (n.kind == NetworkKind::kStatic && v6);
    if (takes_accept_ra && link.accept_ra)
      out += std::string("    accept_ra ") + (*link.accept_ra ? "1" : "0") + "\n";
    if (i == 0) out += link_options;
    for (const Route& r : n.routes) IfupdownRoute(out, r, link.name);
  }
  return out;
}

}  // namespace

Result<std::vector<ConfigFile>> RenderNetworkd(const nlohmann::json& network_data,
                                               const std::map<std::string, std::string>& nics) {
  METASTACK_ASSIGN_OR_RETURN(NetworkModel model,
                             ParseNetworkData(network_data, nics, /*require_names=*/false));
  std::vector<ConfigFile> files;
  for (const Link& link : model.links) {
    std::string base = std::string(kNetworkdDir) + link.name;
    if (link.kind != LinkKind::kEthernet) files.push_back({base + ".netdev", NetworkdNetdev(link)});
    files.push_back({base + ".network", NetworkdNetwork(link, model)});
  }
  return files;
}

Result<ConfigFile> RenderIfupdown(const nlohmann::json& network_data,
                                  const std::map<std::string, std::string>& nics) {
  METASTACK_ASSIGN_OR_RETURN(NetworkModel model,
                             ParseNetworkData(network_data, nics, /*require_names=*/true));
  std::string out =
      "# Written by metastack-guest from network_data.json.\n"
      "auto lo\n"
      "iface lo inet loopback\n";
  if (!model.dns.empty()) out += "    dns-nameservers " + Joined(model.dns) + "\n";
  if (!model.search.empty()) out += "    dns-search " + Joined(model.search) + "\n";
  // Members before their bond, and VLANs after their parents.
  for (LinkKind kind : {LinkKind::kEthernet, LinkKind::kBond, LinkKind::kVlan}) {
    for (const Link& link : model.links) {
      if (link.kind != kind) continue;
      const Link* bond = nullptr;
      for (const Link& other : model.links) {
        if (other.kind == LinkKind::kBond && (&other == &link || other.name == link.bond_master))
          bond = &other;
      }
      out += "\n" + IfupdownStanzas(link, bond);
    }
  }
  return ConfigFile{"/etc/network/interfaces", std::move(out)};
}

std::map<std::string, std::string> ReadNics(const std::string& sys_class_net) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(sys_class_net, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  std::map<std::string, std::string> nics;
  for (const std::string& name : names) {
    fs::path dir = fs::path(sys_class_net) / name;
    if (name == "lo" || fs::exists(dir / "bridge", ec) || fs::exists(dir / "bonding", ec)) continue;
    std::string line, uevent;
    for (std::ifstream in(dir / "uevent"); std::getline(in, line);) uevent += line + "\n";
    if (uevent.find("DEVTYPE=vlan\n") != std::string::npos) continue;
    int assign_type = 0;
    if (std::ifstream in(dir / "addr_assign_type"); in >> assign_type, assign_type == 2) continue;
    // A bond member's address is its bond's; its own stays in perm_hwaddr.
    fs::path file = fs::exists(dir / "bonding_slave/perm_hwaddr", ec)
                        ? dir / "bonding_slave/perm_hwaddr"
                        : dir / "address";
    std::string mac;
    std::ifstream(file) >> mac;
    std::transform(mac.begin(), mac.end(), mac.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (mac.empty() || mac == "00:00:00:00:00:00") continue;
    nics.emplace(mac, name);
  }
  return nics;
}

}  // namespace metastack::guest
