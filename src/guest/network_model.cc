#include "guest/network_model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <string_view>

namespace metastack::guest {
namespace {

using nlohmann::json;

constexpr size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1

// convert_net_json's KNOWN_PHYSICAL_TYPES: what Nova's libvirt driver names a NIC's link
// (the VIF type for the legacy ones, else "phy") and what other clouds emit for the same.
constexpr std::array<std::string_view, 12> kEthernetTypes = {
    "bgpovs", "bridge", "cascading", "dvs", "ethernet",  "hw_veb",
    "hyperv", "ovs",    "phy",       "tap", "vhostuser", "vif"};

// The kernel's bonding modes, by number (what bond_mode "4" means) and by name.
constexpr std::array<std::string_view, 7> kBondModes = {
    "balance-rr", "active-backup", "balance-xor", "broadcast",
    "802.3ad",    "balance-tlb",   "balance-alb"};
constexpr std::array<std::string_view, 6> kXmitHashPolicies = {
    "layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"};

std::optional<bool> IpFamilyV6(const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return false;
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return true;
  return std::nullopt;
}

// A prefix length from "24", 24, "255.255.255.0" or "ffff:ffff:ffff:ffff::"; nullopt when
// it is none of those, or not a contiguous mask, or too long for the family.
std::optional<int> PrefixFrom(const json& mask, bool v6) {
  int max = v6 ? 128 : 32;
  if (mask.is_number_integer()) {
    int64_t n = mask.get<int64_t>();
    if (n < 0 || n > max) return std::nullopt;
    return static_cast<int>(n);
  }
  if (!mask.is_string()) return std::nullopt;
  std::string text = mask.get<std::string>();
  if (!text.empty() && text.size() <= 3 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int n = std::stoi(text);
    if (n > max) return std::nullopt;
    return n;
  }
  unsigned char bytes[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), bytes) != 1) return std::nullopt;
  int prefix = 0;
  bool ended = false;
  for (int i = 0; i < max / 8; ++i) {
    for (int bit = 7; bit >= 0; --bit) {
      bool set = (bytes[i] >> bit) & 1;
      if (set && ended) return std::nullopt;
      if (set)
        ++prefix;
      else
        ended = true;
    }
  }
  return prefix;
}

Result<std::string> RequiredString(const json& object, const char* key, const std::string& at) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return InvalidField(at + "." + key, "missing");
  if (!it->is_string()) return InvalidField(at + "." + key, "not a string");
  return it->get<std::string>();
}

Result<std::string> IpAddress(const json& value, const std::string& field) {
  if (!value.is_string()) return InvalidField(field, "not a string");
  std::string text = value.get<std::string>();
  if (!IpFamilyV6(text)) return InvalidField(field, "not an IP address: \"" + text + "\"");
  return text;
}

// _normalize_net_keys: "a/p" (p a length or a mask), else `netmask`, else /24 or /64.
Result<Cidr> ParseCidr(const json& object, const char* address_key, const std::string& at) {
  METASTACK_ASSIGN_OR_RETURN(std::string text, RequiredString(object, address_key, at));
  std::string field = at + "." + address_key;
  Cidr cidr;
  std::optional<json> mask;
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    mask = json(text.substr(slash + 1));
    text.resize(slash);
  }
  std::optional<bool> v6 = IpFamilyV6(text);
  if (!v6) return InvalidField(field, "not an IP address: \"" + text + "\"");
  cidr.address = text;
  cidr.v6 = *v6;
  if (!mask) {
    if (auto it = object.find("netmask"); it != object.end() && !it->is_null()) {
      mask = *it;
      field = at + ".netmask";
    }
  }
  if (!mask) {
    cidr.prefix = cidr.v6 ? 64 : 24;
    return cidr;
  }
  std::optional<int> prefix = PrefixFrom(*mask, cidr.v6);
  if (!prefix)
    return InvalidField(field, std::string("not an ") + (cidr.v6 ? "IPv6" : "IPv4") +
                                   " prefix length or netmask: " + mask->dump());
  cidr.prefix = *prefix;
  return cidr;
}

Result<std::optional<int64_t>> OptionalInteger(const json& object, const char* key,
                                               const std::string& at, int64_t min, int64_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<int64_t>();
  int64_t n = 0;
  if (it->is_number_integer()) {
    n = it->get<int64_t>();
  } else if (it->is_string() && !it->get<std::string>().empty() &&
             it->get<std::string>().size() < 10 &&
             std::all_of(it->get<std::string>().begin(), it->get<std::string>().end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
    n = std::stoll(it->get<std::string>());
  } else {
    return InvalidField(at + "." + key, "not an integer: " + it->dump());
  }
  if (n < min || n > max)
    return InvalidField(at + "." + key, "out of range [" + std::to_string(min) + ", " +
                                            std::to_string(max) + "]: " + std::to_string(n));
  return std::optional<int64_t>(n);
}

// A string or a list of strings (cloud-init takes both); each checked by `check`.
template <typename Check>
Result<std::vector<std::string>> StringList(const json& object, const char* key,
                                            const std::string& at, Check check) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  json items = it->is_array() ? *it : json::array({*it});
  for (size_t i = 0; i < items.size(); ++i) {
    std::string field = at + "." + key + (it->is_array() ? "[" + std::to_string(i) + "]" : "");
    METASTACK_ASSIGN_OR_RETURN(std::string value, check(items[i], field));
    out.push_back(std::move(value));
  }
  return out;
}

Result<std::string> DomainName(const json& value, const std::string& field) {
  if (!value.is_string()) return InvalidField(field, "not a string");
  std::string text = value.get<std::string>();
  bool ok =
      !text.empty() && text.size() <= 253 && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
      });
  if (!ok) return InvalidField(field, "not a domain name: " + value.dump());
  return text;
}

Result<std::string> MacAddress(const json& value, const std::string& field) {
  if (!value.is_string()) return InvalidField(field, "not a string");
  std::string mac = value.get<std::string>();
  bool ok = mac.size() == 17;
  for (size_t i = 0; ok && i < mac.size(); ++i) {
    char& c = mac[i];
    if (i % 3 == 2) {
      ok = c == ':';
    } else {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }
  }
  if (!ok) return InvalidField(field, "not a MAC address: " + value.dump());
  return mac;
}

Result<Route> ParseRoute(const json& route, const std::string& at) {
  if (!route.is_object()) return InvalidField(at, "not an object");
  Route out;
  METASTACK_ASSIGN_OR_RETURN(out.destination, ParseCidr(route, "network", at));
  auto gateway = route.find("gateway");
  if (gateway == route.end() || gateway->is_null()) return InvalidField(at + ".gateway", "missing");
  METASTACK_ASSIGN_OR_RETURN(out.gateway, IpAddress(*gateway, at + ".gateway"));
  if (*IpFamilyV6(out.gateway) != out.destination.v6)
    return InvalidField(at + ".gateway",
                        "not of the route's address family: \"" + out.gateway + "\"");
  METASTACK_ASSIGN_OR_RETURN(out.metric, OptionalInteger(route, "metric", at, 0, UINT32_MAX));
  return out;
}

// One entry of "networks"; sets the link's accept-ra as convert_net_json does.
Result<Network> ParseNetwork(const json& network, const std::string& at, Link& link) {
  METASTACK_ASSIGN_OR_RETURN(std::string type, RequiredString(network, "type", at));
  Network out;
  if (type == "ipv4_dhcp") {
    out.kind = NetworkKind::kDhcp4;
  } else if (type == "ipv6_dhcp") {
    out.kind = NetworkKind::kDhcp6;
  } else if (type == "ipv6_slaac") {
    out.kind = NetworkKind::kSlaac;
  } else if (type == "ipv6_dhcpv6-stateless") {
    out.kind = NetworkKind::kDhcp6Stateless;
  } else if (type == "ipv6_dhcpv6-stateful") {
    out.kind = NetworkKind::kDhcp6Stateful;
  } else if (type == "ipv4" || type == "ipv6" || type == "static" || type == "static6") {
    out.kind = NetworkKind::kStatic;
    METASTACK_ASSIGN_OR_RETURN(out.address, ParseCidr(network, "ip_address", at));
    bool want_v6 = type == "ipv6" || type == "static6";
    if ((type == "ipv4" || want_v6) && out.address->v6 != want_v6)
      return InvalidField(at + ".ip_address", std::string("not an ") + (want_v6 ? "IPv6" : "IPv4") +
                                                  " address: \"" + out.address->address + "\"");
    if (want_v6) link.accept_ra = false;  // Nova's "ipv6": no address mode, no RAs to follow
  } else {
    return InvalidField(at + ".type", "unknown network type \"" + type + "\"");
  }
  if (out.kind == NetworkKind::kDhcp6 || out.kind == NetworkKind::kDhcp6Stateful)
    link.accept_ra = true;
  if (auto it = network.find("gateway"); it != network.end() && !it->is_null()) {
    Route route;
    METASTACK_ASSIGN_OR_RETURN(route.gateway, IpAddress(*it, at + ".gateway"));
    route.destination.v6 = *IpFamilyV6(route.gateway);
    route.destination.address = route.destination.v6 ? "::" : "0.0.0.0";
    out.routes.push_back(std::move(route));
  }
  if (auto it = network.find("routes"); it != network.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidField(at + ".routes", "not a list");
    for (size_t i = 0; i < it->size(); ++i) {
      METASTACK_ASSIGN_OR_RETURN(Route route,
                                 ParseRoute((*it)[i], at + ".routes[" + std::to_string(i) + "]"));
      out.routes.push_back(std::move(route));
    }
  }
  METASTACK_ASSIGN_OR_RETURN(out.dns, StringList(network, "dns_nameservers", at, IpAddress));
  METASTACK_ASSIGN_OR_RETURN(out.search, StringList(network, "dns_search", at, DomainName));
  return out;
}

std::string Sanitized(const std::string& id) {
  std::string out = id;
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) c = '_';
  }
  return out.empty() ? "_" : out;
}

// The link's own fields (type, MAC, MTU, VLAN and bond settings); names come later.
Result<Link> ParseLink(const json& link, const std::string& at) {
  if (!link.is_object()) return InvalidField(at, "not an object");
  Link out;
  METASTACK_ASSIGN_OR_RETURN(out.id, RequiredString(link, "id", at));
  std::string type;
  if (auto it = link.find("type"); it != link.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidField(at + ".type", "not a string");
    type = it->get<std::string>();
  }
  METASTACK_ASSIGN_OR_RETURN(std::optional<int64_t> mtu,
                             OptionalInteger(link, "mtu", at, 68, 65535));
  if (mtu) out.mtu = static_cast<int>(*mtu);
  auto mac = link.find("ethernet_mac_address");
  bool has_mac = mac != link.end() && !mac->is_null() && *mac != "";
  if (type.empty() ||
      std::find(kEthernetTypes.begin(), kEthernetTypes.end(), type) != kEthernetTypes.end()) {
    out.kind = LinkKind::kEthernet;
    if (!has_mac) return InvalidField(at + ".ethernet_mac_address", "missing");
    METASTACK_ASSIGN_OR_RETURN(out.mac, MacAddress(*mac, at + ".ethernet_mac_address"));
  } else if (type == "vlan") {
    out.kind = LinkKind::kVlan;
    auto vmac = link.find("vlan_mac_address");
    if (vmac == link.end() || vmac->is_null())
      return InvalidField(at + ".vlan_mac_address", "missing");
    METASTACK_ASSIGN_OR_RETURN(out.mac, MacAddress(*vmac, at + ".vlan_mac_address"));
    METASTACK_ASSIGN_OR_RETURN(std::optional<int64_t> id,
                               OptionalInteger(link, "vlan_id", at, 1, 4094));
    if (!id) return InvalidField(at + ".vlan_id", "missing");
    out.vlan_id = static_cast<int>(*id);
  } else if (type == "bond") {
    out.kind = LinkKind::kBond;
    if (has_mac) {
      METASTACK_ASSIGN_OR_RETURN(out.mac, MacAddress(*mac, at + ".ethernet_mac_address"));
    }
    if (auto it = link.find("bond_mode"); it != link.end() && !it->is_null()) {
      std::string mode = it->is_string() ? it->get<std::string>() : it->dump();
      if (mode.size() == 1 && mode[0] >= '0' && mode[0] <= '6') mode = kBondModes[mode[0] - '0'];
      if (std::find(kBondModes.begin(), kBondModes.end(), mode) == kBondModes.end())
        return InvalidField(at + ".bond_mode", "not a bonding mode: " + it->dump());
      out.bond_mode = mode;
    }
    METASTACK_ASSIGN_OR_RETURN(std::optional<int64_t> miimon,
                               OptionalInteger(link, "bond_miimon", at, 0, INT32_MAX));
    if (miimon) out.bond_miimon = static_cast<int>(*miimon);
    if (auto it = link.find("bond_xmit_hash_policy"); it != link.end() && !it->is_null()) {
      if (!it->is_string() || std::find(kXmitHashPolicies.begin(), kXmitHashPolicies.end(),
                                        it->get<std::string>()) == kXmitHashPolicies.end())
        return InvalidField(at + ".bond_xmit_hash_policy",
                            "not a transmit hash policy: " + it->dump());
      out.bond_xmit_hash_policy = it->get<std::string>();
    }
  } else {
    return InvalidField(at + ".type", "unknown link type \"" + type + "\"");
  }
  return out;
}

// The ids a link refers to: its VLAN parent, or its bond members.
Result<std::vector<size_t>> References(const json& link, const Link& parsed,
                                       const std::map<std::string, size_t>& by_id,
                                       const std::string& at) {
  std::vector<std::string> ids;
  std::string field;
  if (parsed.kind == LinkKind::kVlan) {
    field = at + ".vlan_link";
    METASTACK_ASSIGN_OR_RETURN(std::string id, RequiredString(link, "vlan_link", at));
    ids.push_back(id);
  } else if (parsed.kind == LinkKind::kBond) {
    field = at + ".bond_links";
    auto it = link.find("bond_links");
    if (it == link.end() || !it->is_array() || it->empty())
      return InvalidField(field, "not a list of link ids");
    for (const json& id : *it) {
      if (!id.is_string()) return InvalidField(field, "not a list of link ids");
      ids.push_back(id.get<std::string>());
    }
  }
  std::vector<size_t> out;
  for (const std::string& id : ids) {
    auto found = by_id.find(id);
    if (found == by_id.end()) return InvalidField(field, "no link has id \"" + id + "\"");
    out.push_back(found->second);
  }
  return out;
}

}  // namespace

Result<NetworkModel> ParseNetworkData(const json& network_data,
                                      const std::map<std::string, std::string>& nics,
                                      bool require_names) {
  if (!network_data.is_object()) return InvalidField("network_data", "not an object");
  auto links = network_data.find("links");
  if (links == network_data.end()) return InvalidField("links", "missing");
  if (!links->is_array()) return InvalidField("links", "not a list");

  NetworkModel model;
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < links->size(); ++i) {
    std::string at = "links[" + std::to_string(i) + "]";
    METASTACK_ASSIGN_OR_RETURN(Link link, ParseLink((*links)[i], at));
    if (!by_id.emplace(link.id, i).second)
      return InvalidField(at + ".id", "used by an earlier link: \"" + link.id + "\"");
    model.links.push_back(std::move(link));
  }

  // Names: ethernet links and bonds first, then VLANs, whose names derive from their parent's.
  int bonds = 0;
  for (size_t i = 0; i < model.links.size(); ++i) {
    Link& link = model.links[i];
    if (link.kind == LinkKind::kBond) {
      link.name = "bond" + std::to_string(bonds++);
    } else if (link.kind == LinkKind::kEthernet) {
      if (auto nic = nics.find(link.mac); nic != nics.end()) {
        link.name = nic->second;
        link.name_known = true;
      } else if (require_names) {
        return InvalidField("links[" + std::to_string(i) + "].ethernet_mac_address",
                            "no interface has this MAC address (" + link.mac + ")");
      } else {
        link.name = Sanitized(link.id);
      }
    }
  }
  std::vector<std::vector<size_t>> refs(model.links.size());
  for (size_t i = 0; i < model.links.size(); ++i) {
    std::string at = "links[" + std::to_string(i) + "]";
    METASTACK_ASSIGN_OR_RETURN(refs[i], References((*links)[i], model.links[i], by_id, at));
    for (size_t r : refs[i]) {
      const Link& target = model.links[r];
      if (model.links[i].kind == LinkKind::kVlan && target.kind == LinkKind::kVlan)
        return InvalidField(at + ".vlan_link", "names a VLAN: \"" + target.id + "\"");
      if (model.links[i].kind == LinkKind::kBond && target.kind != LinkKind::kEthernet)
        return InvalidField(at + ".bond_links", "names a VLAN or bond: \"" + target.id + "\"");
      if (model.links[i].kind == LinkKind::kBond && !target.bond_master.empty())
        return InvalidField(at + ".bond_links",
                            "names a member of another bond: \"" + target.id + "\"");
      if (model.links[i].kind == LinkKind::kBond) model.links[r].bond_master = model.links[i].name;
    }
  }
  for (size_t i = 0; i < model.links.size(); ++i) {
    Link& link = model.links[i];
    if (link.kind == LinkKind::kBond) {
      for (size_t r : refs[i]) link.bond_members.push_back(model.links[r].name);
    } else if (link.kind == LinkKind::kVlan) {
      Link& parent = model.links[refs[i][0]];
      if (!parent.bond_master.empty())  // a member carries nothing but its bond
        return InvalidField("links[" + std::to_string(i) + "].vlan_link",
                            "names a bond member: \"" + parent.id + "\"");
      link.vlan_parent = parent.name;
      link.name = parent.name + "." + std::to_string(link.vlan_id);
      if (link.name.size() > kMaxInterfaceName) link.name = "vlan" + std::to_string(link.vlan_id);
      parent.vlans.push_back(link.name);
    }
  }
  std::set<std::string> names;
  for (size_t i = 0; i < model.links.size(); ++i) {
    if (!names.insert(model.links[i].name).second)
      return InvalidField("links[" + std::to_string(i) + "]",
                          "interface name \"" + model.links[i].name + "\" used by an earlier link");
  }

  if (auto networks = network_data.find("networks");
      networks != network_data.end() && !networks->is_null()) {
    if (!networks->is_array()) return InvalidField("networks", "not a list");
    for (size_t i = 0; i < networks->size(); ++i) {
      std::string at = "networks[" + std::to_string(i) + "]";
      const json& network = (*networks)[i];
      if (!network.is_object()) return InvalidField(at, "not an object");
      METASTACK_ASSIGN_OR_RETURN(std::string link_id, RequiredString(network, "link", at));
      auto link = by_id.find(link_id);
      if (link == by_id.end())
        return InvalidField(at + ".link", "no link has id \"" + link_id + "\"");
      Link& target = model.links[link->second];
      if (!target.bond_master.empty())
        return InvalidField(at + ".link", "names a bond member: \"" + link_id + "\"");
      METASTACK_ASSIGN_OR_RETURN(Network parsed, ParseNetwork(network, at, target));
      target.networks.push_back(std::move(parsed));
    }
  }

  if (auto services = network_data.find("services");
      services != network_data.end() && !services->is_null()) {
    if (!services->is_array()) return InvalidField("services", "not a list");
    for (size_t i = 0; i < services->size(); ++i) {
      std::string at = "services[" + std::to_string(i) + "]";
      const json& service = (*services)[i];
      if (!service.is_object()) return InvalidField(at, "not an object");
      // Nova emits "dns" alone; cloud-init would take any other type's address for a DNS
      // server, which no type but "dns" means.
      if (service.value("type", json()) != "dns") continue;
      METASTACK_ASSIGN_OR_RETURN(std::vector<std::string> dns,
                                 StringList(service, "address", at, IpAddress));
      if (dns.empty()) return InvalidField(at + ".address", "missing");
      METASTACK_ASSIGN_OR_RETURN(std::vector<std::string> search,
                                 StringList(service, "search", at, DomainName));
      model.dns.insert(model.dns.end(), dns.begin(), dns.end());
      model.search.insert(model.search.end(), search.begin(), search.end());
    }
  }
  return model;
}

}  // namespace metastack::guest
