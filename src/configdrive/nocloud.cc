#include "configdrive/nocloud.h"

#include <algorithm>
#include <bit>
#include <cstdio>

#include "base/utf8.h"
#include "core/ip.h"
#include "core/network_data.h"

namespace metastack::configdrive {
namespace {

std::unexpected<Error> Bad(std::string message) {
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument, std::move(message), "network_data.json"));
}

// What we write unescaped: what a YAML 1.1 reader (PyYAML) accepts as printable, minus TAB, LF
// and CR, since a raw line break inside a double-quoted scalar folds into a space.
bool YamlPrintable(uint32_t cp) {
  return (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// Prefix length of a netmask ("255.255.255.0" -> 24); nullopt when not contiguous.
std::optional<int> PrefixOf(const std::string& netmask) {
  auto ip = core::ParseIp(netmask);
  if (!ip) return std::nullopt;
  int prefix = 0;
  bool ended = false;
  for (int i = 0; i < ip->Width() / 8; ++i) {
    uint8_t b = ip->bytes[static_cast<size_t>(i)];
    int ones = std::countl_one(b);
    if (ended && b != 0) return std::nullopt;
    if (ones < 8) {
      if (static_cast<uint8_t>(b << ones) != 0) return std::nullopt;
      ended = true;
    }
    prefix += ones;
  }
  return prefix;
}

std::string Str(const core::Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct Ethernet {
  std::string mac;
  std::optional<int64_t> mtu;
  bool dhcp4 = false, dhcp6 = false;
  std::optional<bool> accept_ra;
  std::vector<std::string> addresses;
  std::vector<std::pair<std::string, std::string>> routes;  // to, via
  std::vector<std::string> nameservers;
};

Status AddNetwork(const core::Json& net, Ethernet& eth) {
  const std::string type = Str(net, "type");
  if (type == "ipv4_dhcp") {
    eth.dhcp4 = true;
    return Ok();
  }
  if (type == "ipv6_dhcp" || type == "ipv6_dhcpv6-stateful" || type == "ipv6_dhcpv6-stateless") {
    eth.dhcp6 = true;
    if (type != "ipv6_dhcp") eth.accept_ra = true;
    return Ok();
  }
  if (type == "ipv6_slaac") {
    eth.accept_ra = true;
    return Ok();
  }
  if (type != "ipv4" && type != "ipv6") return Bad("network type not supported: " + type);
  if (type == "ipv6") eth.accept_ra = false;
  auto prefix = PrefixOf(Str(net, "netmask"));
  if (!prefix) return Bad("not a netmask: " + Str(net, "netmask"));
  eth.addresses.push_back(Str(net, "ip_address") + "/" + std::to_string(*prefix));
  if (auto routes = net.find("routes"); routes != net.end() && routes->is_array()) {
    for (const auto& r : *routes) {
      auto rp = PrefixOf(Str(r, "netmask"));
      if (!rp) return Bad("not a netmask: " + Str(r, "netmask"));
      eth.routes.emplace_back(Str(r, "network") + "/" + std::to_string(*rp), Str(r, "gateway"));
    }
  }
  if (auto services = net.find("services"); services != net.end() && services->is_array()) {
    for (const auto& s : *services) {
      std::string addr = Str(s, "address");
      if (Str(s, "type") == "dns" && !addr.empty() &&
          std::find(eth.nameservers.begin(), eth.nameservers.end(), addr) == eth.nameservers.end())
        eth.nameservers.push_back(addr);
    }
  }
  return Ok();
}

void EmitEthernet(std::string& y, const std::string& name, const Ethernet& e) {
  y += "  " + name + ":\n";
  y += "    match:\n      macaddress: " + YamlQuote(e.mac) + "\n";
  y += "    set-name: " + YamlQuote(name) + "\n";
  if (e.mtu) y += "    mtu: " + std::to_string(*e.mtu) + "\n";
  if (e.dhcp4) y += "    dhcp4: true\n";
  if (e.dhcp6) y += "    dhcp6: true\n";
  if (e.accept_ra) y += std::string("    accept-ra: ") + (*e.accept_ra ? "true" : "false") + "\n";
  if (!e.addresses.empty()) {
    y += "    addresses:\n";
    for (const auto& a : e.addresses) y += "      - " + YamlQuote(a) + "\n";
  }
  if (!e.routes.empty()) {
    y += "    routes:\n";
    for (const auto& [to, via] : e.routes)
      y += "      - to: " + YamlQuote(to) + "\n        via: " + YamlQuote(via) + "\n";
  }
  if (!e.nameservers.empty()) {
    y += "    nameservers:\n      addresses:\n";
    for (const auto& n : e.nameservers) y += "        - " + YamlQuote(n) + "\n";
  }
}

}  // namespace

std::string YamlQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    char32_t cp = NextCodePoint(s, i).value_or(kReplacementCharacter);
    if (cp == '"' || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (YamlPrintable(cp)) {
      AppendUtf8(out, cp);
    } else {
      char buf[12];
      std::snprintf(buf, sizeof buf, cp > 0xFFFF ? "\\U%08X" : "\\u%04X",
                    static_cast<unsigned>(cp));
      out += buf;
    }
  }
  return out + "\"";
}

Result<std::optional<std::string>> NetworkConfigV2(const core::Json& nd) {
  auto links = nd.find("links");
  if (links == nd.end() || !links->is_array() || links->empty())
    return std::optional<std::string>();
  std::vector<std::string> ids;
  std::vector<Ethernet> eths;
  for (const auto& link : *links) {
    Ethernet e;
    e.mac = Str(link, "ethernet_mac_address");
    if (auto mtu = link.find("mtu"); mtu != link.end() && mtu->is_number_integer())
      e.mtu = mtu->get<int64_t>();
    ids.push_back(Str(link, "id"));
    eths.push_back(std::move(e));
  }
  if (auto networks = nd.find("networks"); networks != nd.end() && networks->is_array()) {
    for (const auto& net : *networks) {
      auto at = std::find(ids.begin(), ids.end(), Str(net, "link"));
      if (at == ids.end()) return Bad("network on an unknown link: " + Str(net, "link"));
      METASTACK_RETURN_IF_ERROR(AddNetwork(net, eths[static_cast<size_t>(at - ids.begin())]));
    }
  }
  std::string y = "version: 2\nethernets:\n";
  for (size_t i = 0; i < eths.size(); ++i) EmitEthernet(y, "eth" + std::to_string(i), eths[i]);
  return std::optional<std::string>(std::move(y));
}

Result<std::vector<core::DriveFile>> NoCloudFiles(const core::Instance& instance,
                                                  const core::Settings& settings) {
  std::string md = "instance-id: " + YamlQuote(instance.uuid) + "\n";
  md += "local-hostname: " + YamlQuote(core::ServedHostname(instance, settings)) + "\n";
  if (instance.availability_zone)
    md += "availability-zone: " + YamlQuote(*instance.availability_zone) + "\n";
  if (!instance.public_keys.empty()) {
    md += "public-keys:\n";
    for (const auto& key : instance.public_keys) md += "  - " + YamlQuote(key.data) + "\n";
  }
  std::vector<core::DriveFile> files;
  files.push_back({"meta-data", std::move(md)});
  files.push_back({"user-data", instance.user_data.value_or("")});
  const core::Json* vendor = instance.vendor_data   ? &*instance.vendor_data
                             : settings.vendor_data ? &*settings.vendor_data
                                                    : nullptr;
  if (vendor != nullptr) {
    if (vendor->is_string()) {
      files.push_back({"vendor-data", vendor->get<std::string>()});
    } else if (auto ci = vendor->find("cloud-init");
               vendor->is_object() && ci != vendor->end() && ci->is_string()) {
      files.push_back({"vendor-data", ci->get<std::string>()});
    }
  }
  if (auto nd = core::NetworkData(instance)) {
    METASTACK_ASSIGN_OR_RETURN(std::optional<std::string> net, NetworkConfigV2(*nd));
    if (net) files.push_back({"network-config", std::move(*net)});
  }
  return files;
}

}  // namespace metastack::configdrive
