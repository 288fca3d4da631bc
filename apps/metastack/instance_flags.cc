#include "instance_flags.h"

#include <bit>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>

#include "base/base64.h"
#include "base/file.h"
#include "base/utf8.h"
#include "core/ip.h"

namespace metastack::cli {
namespace {

using core::Json;

// `s` without leading and trailing white space (spaces, tabs, line ends).
std::string_view Trim(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::unexpected<Error> FlagError(const std::string& flag, const std::string& message) {
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument, flag + ": " + message));
}

Result<std::string> ReadFlagFile(const std::string& flag, const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return FlagError(flag + " " + path, text.error().message);
  return text;
}

// "KEY=VALUE" -> {KEY, VALUE}; the key must not be empty.
Result<std::pair<std::string, std::string>> SplitPair(const std::string& flag,
                                                      const std::string& item,
                                                      const char* expected) {
  size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0)
    return FlagError(flag, "expected " + std::string(expected) + ": " + item);
  return std::pair{item.substr(0, eq), item.substr(eq + 1)};
}

// A stable 64-bit hash (FNV-1a) for the ids and MACs derived from the instance's uuid, so that
// one set of flags with --uuid always gives the same document.
uint64_t Fnv(std::string_view a, size_t index) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
  for (char c : a) mix(static_cast<unsigned char>(c));
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(index >> (8 * i)));
  return h;
}

std::string Hex(uint64_t v, int digits) {
  std::string out(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[i] = "0123456789abcdef"[v & 15];
  return out;
}

// Nova's default MAC prefix, fa:16:3e, and three bytes from the uuid and the NIC's position.
std::string DefaultMac(const std::string& uuid, size_t index) {
  uint64_t h = Fnv(uuid, index);
  char buf[18];
  std::snprintf(buf, sizeof buf, "fa:16:3e:%02x:%02x:%02x", static_cast<unsigned>(h & 0xff),
                static_cast<unsigned>((h >> 8) & 0xff), static_cast<unsigned>((h >> 16) & 0xff));
  return buf;
}

// A port id shaped like Neutron's (a version 4 UUID), derived from the instance's uuid and the
// position.
std::string DefaultPortId(const std::string& uuid, size_t index) {
  const std::string a = Hex(Fnv(uuid, index + 1000), 16), b = Hex(Fnv(uuid, index + 2000), 16);
  return a.substr(0, 8) + "-" + a.substr(8, 4) + "-4" + a.substr(13, 3) + "-8" + b.substr(1, 3) +
         "-" + b.substr(4, 12);
}

// The public key in FILE: one line (an OpenSSH .pub file); comments and blank lines refused.
Result<std::string> ReadPublicKey(const std::string& flag, const std::string& path) {
  METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFlagFile(flag, path));
  std::string key(Trim(text));
  if (key.empty()) return FlagError(flag + " " + path, "the file is empty");
  if (key.find('\n') != std::string::npos)
    return FlagError(flag + " " + path, "holds more than one line; give one key per flag");
  return key;
}

// --ssh-key FILE's key name: the file's name without ".pub" ("id_ed25519").
std::string KeyNameOf(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  if (name.ends_with(".pub") && name.size() > 4) name.resize(name.size() - 4);
  return name;
}

// A subnet served by DHCP: the server is its gateway, else the subnet's first address (what
// decides that network_data.json shows it as ipv4_dhcp/ipv6_dhcp).
void MarkDhcp(Json& subnet) {
  subnet["enable_dhcp"] = true;
  if (subnet.contains("gateway_ip")) return;
  core::Cidr cidr = *core::ParseCidr(subnet["cidr"].get<std::string>());
  core::IpAddress first = cidr.Network();
  first.bytes[first.version == 4 ? 3 : 15] |= 1;
  subnet["dhcp_server"] = first.ToString();
}

// One --nic: comma-separated items: net=ID, id=PORT, mac=MAC, ip=ADDR/PREFIX (one IPv4 and
// one IPv6), gw=IP, dns=IP (repeatable), mtu=N, dhcp (IPv4 by DHCP: no ip= needed).
Result<Json> ParseNic(const std::string& spec, const std::string& uuid, size_t index) {
  const std::string flag = "--nic " + spec;
  Json port = {{"id", DefaultPortId(uuid, index)},
               {"mac", DefaultMac(uuid, index)},
               {"network_id", "default"}};
  std::map<int, Json> subnets;  // by IP version
  std::vector<std::string> gateways, dns;
  bool dhcp = false;
  for (std::string_view item : Split(spec, ',')) {
    std::string it(Trim(item));
    if (it == "dhcp") {
      dhcp = true;
      continue;
    }
    size_t eq = it.find('=');
    if (eq == std::string::npos) return FlagError(flag, "expected key=value or dhcp: " + it);
    std::string key = it.substr(0, eq), value = it.substr(eq + 1);
    if (key == "net") {
      port["network_id"] = value;
    } else if (key == "id") {
      port["id"] = value;
    } else if (key == "mac") {
      if (!core::IsMacAddress(value)) return FlagError(flag, "not a MAC address: " + value);
      port["mac"] = value;
    } else if (key == "ip") {
      auto cidr = core::ParseCidr(value);
      if (!cidr) return FlagError(flag, "expected ip=ADDRESS/PREFIX: " + value);
      int v = cidr->address.version;
      if (subnets.contains(v)) return FlagError(flag, "two IPv" + std::to_string(v) + " ip=");
      subnets[v] = {{"cidr", cidr->Network().ToString() + "/" + std::to_string(cidr->prefix)},
                    {"ip_address", cidr->address.ToString()},
                    {"enable_dhcp", false}};
    } else if (key == "gw") {
      if (!core::ParseIp(value)) return FlagError(flag, "not an IP address: " + value);
      gateways.push_back(value);
    } else if (key == "dns") {
      if (!core::ParseIp(value)) return FlagError(flag, "not an IP address: " + value);
      dns.push_back(value);
    } else if (key == "mtu") {
      auto mtu = ParseInt64(value);
      if (!mtu || *mtu < 68 || *mtu > 65535)
        return FlagError(flag, "mtu must be 68..65535: " + value);
      port["mtu"] = *mtu;
    } else {
      return FlagError(flag, "unknown item " + key + " (net, id, mac, ip, gw, dns, mtu, dhcp)");
    }
  }
  if (dhcp) {
    // Nova's network_data.json lists a port's networks by its fixed IPs: a DHCP network too.
    if (!subnets.contains(4))
      return FlagError(flag, "dhcp needs the address the DHCP server hands out: ip=ADDRESS/PREFIX");
  }
  for (const std::string& gw : gateways) {
    int v = core::ParseIp(gw)->version;
    if (!subnets.contains(v))
      return FlagError(flag, "gw=" + gw + " without an IPv" + std::to_string(v) + " ip=");
    subnets[v]["gateway_ip"] = gw;
  }
  if (dhcp) MarkDhcp(subnets[4]);
  if (subnets.empty() && !dns.empty()) return FlagError(flag, "dns= without ip= or dhcp");
  Json list = Json::array();
  for (auto& [v, s] : subnets) {
    if (!dns.empty()) s["dns_nameservers"] = dns;
    list.push_back(std::move(s));
  }
  port["subnets"] = std::move(list);
  return port;
}

// A network_data.json netmask as a prefix length: a mask ("255.255.255.0", "ffff:ffff::") by
// its one bits, or a number as it is (Nova writes IPv6 netmasks either way).
std::optional<int> PrefixOf(const std::string& netmask) {
  if (auto m = core::ParseIp(netmask)) {
    int prefix = 0;
    for (uint8_t b : std::span(m->bytes).first(m->version == 4 ? 4 : 16))
      prefix += std::popcount(b);
    return prefix;
  }
  if (auto n = ParseInt64(netmask)) return static_cast<int>(*n);
  return std::nullopt;
}

// OpenStack's network_data.json (links, networks, services) as the document's ports: each
// link a port, each network on it a subnet. Routes to 0.0.0.0/0 or ::/0 become the subnet's
// gateway, others its host routes; DNS services become every subnet's name servers.
Result<Json> PortsFromNetworkData(const std::string& path, const std::string& uuid) {
  const std::string flag = "--network-data " + path;
  METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFlagFile("--network-data", path));
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return FlagError(flag, "not a JSON object");
  auto list = [&](const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_array() ? *it : Json::array();
  };
  std::vector<std::string> dns;
  for (const Json& s : list("services"))
    if (s.value("type", "") == "dns" && s.contains("address") && s["address"].is_string())
      dns.push_back(s["address"].get<std::string>());
  Json ports = Json::array();
  std::map<std::string, size_t> by_link;
  for (const Json& link : list("links")) {
    if (!link.is_object() || !link.contains("id") || !link.contains("ethernet_mac_address"))
      return FlagError(flag, "a link needs id and ethernet_mac_address");
    Json port = {{"id", link.value("vif_id", DefaultPortId(uuid, ports.size()))},
                 {"mac", link["ethernet_mac_address"]},
                 {"network_id", "default"},
                 {"devname", link["id"]},
                 {"subnets", Json::array()}};
    if (link.contains("mtu") && link["mtu"].is_number_integer()) port["mtu"] = link["mtu"];
    if (link.contains("type") && link["type"].is_string()) port["vif_type"] = link["type"];
    by_link[link["id"].get<std::string>()] = ports.size();
    ports.push_back(std::move(port));
  }
  for (const Json& net : list("networks")) {
    std::string link = net.value("link", "");
    auto found = by_link.find(link);
    if (found == by_link.end()) return FlagError(flag, "a network names no known link: " + link);
    Json& port = ports[found->second];
    if (net.contains("network_id") && net["network_id"].is_string())
      port["network_id"] = net["network_id"];
    std::string type = net.value("type", "");
    Json subnet;
    const bool dhcp = type == "ipv4_dhcp" || type == "ipv6_dhcp";
    if (dhcp && !net.contains("ip_address"))
      return FlagError(flag, "network " + net.value("id", "") + ": " + type +
                                 " without ip_address: ports are kept by their fixed IPs; add "
                                 "the address the DHCP server hands out (ip_address, netmask)");
    if (dhcp || type == "ipv4" || type == "ipv6" || type.starts_with("ipv6_")) {
      std::string ip = net.value("ip_address", "");
      std::string mask = net.value("netmask", "");
      int prefix = -1;
      if (size_t slash = ip.find('/'); slash != std::string::npos) {
        prefix = static_cast<int>(ParseInt64(ip.substr(slash + 1)).value_or(-1));
        ip.resize(slash);
      } else {
        prefix = PrefixOf(mask).value_or(-1);
      }
      auto cidr = core::ParseCidr(ip + "/" + std::to_string(prefix));
      if (!cidr) return FlagError(flag, "network " + net.value("id", "") + ": bad ip_address");
      subnet = {{"cidr", cidr->Network().ToString() + "/" + std::to_string(prefix)},
                {"ip_address", cidr->address.ToString()},
                {"enable_dhcp", dhcp}};
      if (type.starts_with("ipv6_") && !dhcp) subnet["ipv6_address_mode"] = type.substr(5);
      Json routes = Json::array();
      if (net.contains("routes") && net["routes"].is_array()) {
        for (const Json& r : net["routes"]) {
          std::string network = r.value("network", ""), gateway = r.value("gateway", "");
          std::string netmask = r.value("netmask", "");
          if (network == "0.0.0.0" || network == "::") {
            subnet["gateway_ip"] = gateway;
            continue;
          }
          const int rp = PrefixOf(netmask).value_or(0);
          routes.push_back(
              {{"destination", network + "/" + std::to_string(rp)}, {"nexthop", gateway}});
        }
      }
      if (!routes.empty()) subnet["host_routes"] = std::move(routes);
      if (dhcp) MarkDhcp(subnet);
    } else {
      return FlagError(flag, "network " + net.value("id", "") + ": unknown type " + type);
    }
    if (!dns.empty()) subnet["dns_nameservers"] = dns;
    port["subnets"].push_back(std::move(subnet));
  }
  return ports;
}

// Which flag set a document field, for errors from the whole document's validation.
std::string FlagForField(const std::string& field) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"uuid", "--uuid"},
      {"hostname", "--hostname"},
      {"name", "--name"},
      {"project_id", "--project"},
      {"availability_zone", "--availability-zone"},
      {"public_keys", "--ssh-key/--key-name"},
      {"user_data", "--user-data"},
      {"vendor_data", "--vendor-data"},
      {"meta", "--meta"},
      {"files", "--file"},
      {"ports", "--nic/--network-data"},
  };
  for (const auto& [prefix, flag] : kFields) {
    std::string_view f(field);
    if (f.starts_with(prefix) &&
        (f.size() == std::strlen(prefix) || f[std::strlen(prefix)] == '.' ||
         f[std::strlen(prefix)] == '[' || f.substr(std::strlen(prefix)).starts_with("_b64")))
      return flag;
  }
  return "";
}

}  // namespace

std::string SanitizeHostname(std::string_view name) {
  std::string out;
  for (unsigned char c : name) {
    if (c == ' ' || c == '_' || c == '.')
      out += '-';
    else if (std::isalnum(c) || c == '-')
      out += static_cast<char>(std::tolower(c));
  }
  size_t begin = out.find_first_not_of('-');
  if (begin == std::string::npos) return "";
  out = out.substr(begin, 63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

std::string RandomUuid() {
  uint8_t b[16];
  SystemRandom(b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += Hex(b[i], 2);
  }
  return out;
}

void InstanceFlags::Declare(CLI::App& app, bool vendor_data, bool config_drive_flag) {
  const char* group = "Instance (as nova boot takes it; flags override -f)";
  app.add_option("--uuid", uuid, "Instance id (default: a new random UUID, printed)")->group(group);
  app.add_option("--name", name, "Display name (meta_data.json name)")->group(group);
  app.add_option("--hostname", hostname,
                 "Hostname (default: --name as Nova sanitizes it, else server-UUID)")
      ->group(group);
  app.add_option("--project", project, "Project id (default: 'default')")->group(group);
  app.add_option("--availability-zone", availability_zone, "Availability zone")->group(group);
  app.add_option("--ssh-key", ssh_keys,
                 "Public key file (one key; named after the file: id_ed25519.pub -> id_ed25519); "
                 "repeatable")
      ->type_name("FILE")
      ->group(group);
  app.add_option("--key-name", key_names, "Public key under a name: NAME=FILE; repeatable")
      ->type_name("NAME=FILE")
      ->group(group);
  app.add_option("--user-data", user_data_file, "User data file (bytes as they are)")
      ->type_name("FILE")
      ->group(group);
  app.add_option("--file", files,
                 "Inject a file as nova boot --file: DEST=SRC (config drives only); repeatable")
      ->type_name("DEST=SRC")
      ->group(group);
  app.add_option("--meta", meta, "Metadata item KEY=VALUE; repeatable")
      ->type_name("KEY=VALUE")
      ->group(group);
  if (vendor_data)
    app.add_option("--vendor-data", vendor_data_file, "Vendor data (JSON file) for this instance")
        ->type_name("FILE")
        ->group(group);
  app.add_option("--nic", nics,
                 "A NIC: comma-separated net=NETWORK_ID (default 'default'), id=PORT_ID, "
                 "mac=MAC (default fa:16:3e:...), ip=ADDRESS/PREFIX (one IPv4, one IPv6), "
                 "gw=IP, dns=IP, mtu=N, dhcp (IPv4 by DHCP); repeatable, replaces the document's "
                 "ports. Example: --nic ip=192.0.2.10/24,gw=192.0.2.1,dns=192.0.2.53")
      ->type_name("SPEC")
      ->group(group);
  app.add_option("--network-data", network_data_file,
                 "OpenStack network_data.json to take the ports from (instead of --nic)")
      ->type_name("FILE")
      ->group(group);
  if (config_drive_flag)
    app.add_flag("--config-drive", config_drive,
                 "The instance wants a config drive (nova boot --config-drive=true): serve "
                 "keeps one for it when [configdrive] dir is set")
        ->group(group);
}

bool InstanceFlags::Any() const {
  return uuid || name || hostname || project || availability_zone || user_data_file ||
         vendor_data_file || network_data_file || !ssh_keys.empty() || !key_names.empty() ||
         !files.empty() || !meta.empty() || !nics.empty() || config_drive;
}

Result<Json> InstanceFlags::Apply(Json doc, const std::string& base_name,
                                  std::optional<std::string>* generated_uuid) const {
  if (!doc.is_object()) doc = Json::object();
  if (uuid) {
    if (!core::IsValidUuid(*uuid)) return FlagError("--uuid", "not a UUID: " + *uuid);
    doc["uuid"] = *uuid;
  } else if (!doc.contains("uuid")) {
    doc["uuid"] = RandomUuid();
    if (generated_uuid) *generated_uuid = doc["uuid"].get<std::string>();
  }
  const std::string id = doc["uuid"].is_string() ? doc["uuid"].get<std::string>() : "";
  if (name) doc["name"] = *name;
  if (hostname) {
    if (!core::IsValidHostname(*hostname))
      return FlagError("--hostname", "not a valid hostname: " + *hostname);
    doc["hostname"] = *hostname;
  } else if (!doc.contains("hostname")) {
    std::string from_name = doc.contains("name") && doc["name"].is_string()
                                ? SanitizeHostname(doc["name"].get<std::string>())
                                : "";
    doc["hostname"] = from_name.empty() ? "server-" + id : from_name;
  }
  if (project) doc["project_id"] = *project;
  if (!doc.contains("project_id")) doc["project_id"] = "default";
  if (availability_zone) doc["availability_zone"] = *availability_zone;

  if (!ssh_keys.empty() || !key_names.empty()) {
    Json& keys = doc["public_keys"];
    if (!keys.is_object()) keys = Json::object();
    for (const std::string& path : ssh_keys) {
      METASTACK_ASSIGN_OR_RETURN(std::string key, ReadPublicKey("--ssh-key", path));
      keys[KeyNameOf(path)] = key;
    }
    for (const std::string& item : key_names) {
      METASTACK_ASSIGN_OR_RETURN(auto pair, SplitPair("--key-name", item, "NAME=FILE"));
      METASTACK_ASSIGN_OR_RETURN(std::string key, ReadPublicKey("--key-name", pair.second));
      keys[pair.first] = key;
    }
  }
  if (user_data_file) {
    METASTACK_ASSIGN_OR_RETURN(std::string data, ReadFlagFile("--user-data", *user_data_file));
    doc.erase("user_data");
    doc.erase("user_data_b64");
    if (IsValidUtf8(data))
      doc["user_data"] = data;
    else
      doc["user_data_b64"] = Base64Encode(data);
  }
  if (vendor_data_file) {
    METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFlagFile("--vendor-data", *vendor_data_file));
    Json v = Json::parse(text, nullptr, false);
    if (v.is_discarded()) return FlagError("--vendor-data " + *vendor_data_file, "not valid JSON");
    doc["vendor_data"] = std::move(v);
  }
  if (!meta.empty()) {
    Json& items = doc["meta"];
    if (!items.is_object()) items = Json::object();
    for (const std::string& item : meta) {
      METASTACK_ASSIGN_OR_RETURN(auto pair, SplitPair("--meta", item, "KEY=VALUE"));
      items[pair.first] = pair.second;
    }
  }
  if (!files.empty()) {
    Json& list = doc["files"];
    if (!list.is_array()) list = Json::array();
    for (const std::string& item : files) {
      METASTACK_ASSIGN_OR_RETURN(auto pair, SplitPair("--file", item, "DEST=SRC"));
      METASTACK_ASSIGN_OR_RETURN(std::string bytes, ReadFlagFile("--file " + item, pair.second));
      Json file = {{"path", pair.first}};
      if (IsValidUtf8(bytes))
        file["contents"] = bytes;
      else
        file["contents_b64"] = Base64Encode(bytes);
      // The same destination twice: the later one wins, as a flag overrides the document.
      Json kept = Json::array();
      for (Json& f : list)
        if (!f.is_object() || f.value("path", "") != pair.first) kept.push_back(std::move(f));
      kept.push_back(std::move(file));
      list = std::move(kept);
    }
  }
  if (!nics.empty() && network_data_file)
    return FlagError("--nic", "give --nic or --network-data, not both");
  if (!nics.empty()) {
    Json ports = Json::array();
    for (const std::string& spec : nics) {
      METASTACK_ASSIGN_OR_RETURN(Json port, ParseNic(spec, id, ports.size()));
      ports.push_back(std::move(port));
    }
    doc["ports"] = std::move(ports);
  } else if (network_data_file) {
    METASTACK_ASSIGN_OR_RETURN(doc["ports"], PortsFromNetworkData(*network_data_file, id));
  }
  if (config_drive) doc["config_drive"] = true;

  // The whole document as the store will see it: a field a flag set is reported under the flag.
  auto parsed = core::ParseInstanceJson(doc);
  if (!parsed) {
    Error e = parsed.error();
    std::string flag = FlagForField(e.field);
    const bool from_flag = !flag.empty() && Any();
    e.message =
        (from_flag ? flag + " (" + e.field + ")" : base_name + ": " + e.field) + ": " + e.message;
    e.field.clear();
    return std::unexpected(std::move(e));
  }
  return doc;
}

}  // namespace metastack::cli
