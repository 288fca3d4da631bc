// Instance documents in: ParseInstance and ParseInstanceJson check every field and name the
// first that is wrong ("ports[0].subnets[1].cidr: ...").
#include <algorithm>
#include <initializer_list>

#include "base/base64.h"
#include "base/utf8.h"
#include "core/instance.h"
#include "core/ip.h"

namespace metastack::core {
namespace {

// Field paths as users read them: "ports[0].subnets[1].cidr".
std::string Field(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}
std::string Index(const std::string& where, size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

Status CheckObject(const Json& v, const std::string& where) {
  if (!v.is_object()) return InvalidField(where, "expected an object");
  return Ok();
}

Status CheckKeys(const Json& obj, const std::string& where,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, _] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return InvalidField(Field(where, key), "unknown field");
  }
  return Ok();
}

const Json* Find(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> OptString(const Json& obj, const std::string& where,
                                             std::string_view key) {
  const Json* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return InvalidField(Field(where, key), "expected a string");
  return v->get<std::string>();
}

Result<std::string> ReqString(const Json& obj, const std::string& where, std::string_view key) {
  METASTACK_ASSIGN_OR_RETURN(auto v, OptString(obj, where, key));
  if (!v) return InvalidField(Field(where, key), "is required");
  if (v->empty()) return InvalidField(Field(where, key), "must not be empty");
  return *v;
}

Result<std::optional<int64_t>> OptInt(const Json& obj, const std::string& where,
                                      std::string_view key) {
  const Json* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) return InvalidField(Field(where, key), "expected an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)
    return InvalidField(Field(where, key), "out of range");
  return v->get<int64_t>();
}

Result<std::optional<bool>> OptBool(const Json& obj, const std::string& where,
                                    std::string_view key) {
  const Json* v = Find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return InvalidField(Field(where, key), "expected true or false");
  return v->get<bool>();
}

Result<std::vector<std::string>> StringList(const Json& obj, const std::string& where,
                                            std::string_view key) {
  std::vector<std::string> out;
  const Json* v = Find(obj, key);
  if (!v) return out;
  if (!v->is_array()) return InvalidField(Field(where, key), "expected a list of strings");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return InvalidField(Index(Field(where, key), i), "expected a string");
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

Result<std::string> CheckIp(const std::string& field, std::string value, int version = 0) {
  auto ip = ParseIp(value);
  if (!ip) return InvalidField(field, "not an IP address");
  if (version != 0 && ip->version != version)
    return InvalidField(field, "not an IPv" + std::to_string(version) + " address");
  return value;
}

Result<std::optional<std::string>> OptIp(const Json& obj, const std::string& where,
                                         std::string_view key, int version = 0) {
  METASTACK_ASSIGN_OR_RETURN(auto v, OptString(obj, where, key));
  if (!v) return std::nullopt;
  METASTACK_RETURN_IF_ERROR(CheckIp(Field(where, key), *v, version));
  return v;
}

Result<std::vector<PublicKey>> ParsePublicKeys(const Json& doc) {
  std::vector<PublicKey> keys;
  const Json* v = Find(doc, "public_keys");
  const Json* types = Find(doc, "public_key_types");
  if (types && !types->is_object()) return InvalidField("public_key_types", "expected an object");
  if (!v) {
    if (types && !types->empty())
      return InvalidField(Field("public_key_types", types->begin().key()), "no such public key");
    return keys;
  }
  if (!v->is_object()) return InvalidField("public_keys", "expected an object of name: key");
  for (const auto& [name, key] : v->items()) {
    std::string field = Field("public_keys", name);
    if (name.empty()) return InvalidField("public_keys", "a key name must not be empty");
    if (Utf8Length(name) > 255) return InvalidField(field, "name longer than 255 characters");
    if (!key.is_string()) return InvalidField(field, "expected a string");
    if (key.get_ref<const std::string&>().empty()) return InvalidField(field, "must not be empty");
    keys.push_back(PublicKey{name, key.get<std::string>(), "ssh"});
  }
  if (types) {
    for (const auto& [name, type] : types->items()) {
      std::string field = Field("public_key_types", name);
      auto it =
          std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.name == name; });
      if (it == keys.end()) return InvalidField(field, "no such public key");
      if (!type.is_string() || (type != "ssh" && type != "x509"))
        return InvalidField(field, "expected \"ssh\" or \"x509\"");
      it->type = type.get<std::string>();
    }
  }
  return keys;
}

Result<std::optional<std::string>> ParseUserData(const Json& doc) {
  METASTACK_ASSIGN_OR_RETURN(auto b64, OptString(doc, "", "user_data_b64"));
  METASTACK_ASSIGN_OR_RETURN(auto text, OptString(doc, "", "user_data"));
  std::optional<std::string> raw;
  std::string field = "user_data";
  if (b64) {
    field = "user_data_b64";
    raw = Base64Decode(*b64);
    if (!raw) return InvalidField(field, "not valid base64");
  } else {
    raw = text;
  }
  if (raw && Base64Length(raw->size()) > DocumentLimits::kMaxUserDataBase64)
    return InvalidField(field, "longer than 65535 bytes when base64-encoded");
  return raw;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseMeta(const Json& doc) {
  std::vector<std::pair<std::string, std::string>> meta;
  const Json* v = Find(doc, "meta");
  if (!v) return meta;
  if (!v->is_object()) return InvalidField("meta", "expected an object of string: string");
  if (v->size() > DocumentLimits::kMaxMetaItems) return InvalidField("meta", "more than 128 items");
  for (const auto& [key, value] : v->items()) {
    std::string field = Field("meta", key);
    if (key.empty()) return InvalidField("meta", "a key must not be empty");
    if (Utf8Length(key) > DocumentLimits::kMaxMetaChars)
      return InvalidField(field, "key longer than 255 characters");
    if (!value.is_string()) return InvalidField(field, "expected a string");
    if (Utf8Length(value.get_ref<const std::string&>()) > DocumentLimits::kMaxMetaChars)
      return InvalidField(field, "value longer than 255 characters");
    meta.emplace_back(key, value.get<std::string>());
  }
  return meta;
}

Status CheckGuestPath(const std::string& field, const std::string& path) {
  if (path.empty()) return InvalidField(field, "must not be empty");
  if (path.find('\0') != std::string::npos) return InvalidField(field, "contains a NUL byte");
  if (path.size() > DocumentLimits::kMaxFilePath)
    return InvalidField(field, "longer than 255 bytes");
  if (path[0] != '/') return InvalidField(field, "not an absolute path");
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part == "." || part == "..") return InvalidField(field, "contains a '.' or '..' component");
    start = end + 1;
  }
  if (path.back() == '/') return InvalidField(field, "names a directory, not a file");
  return Ok();
}

Result<std::vector<InjectedFile>> ParseFiles(const Json& doc) {
  std::vector<InjectedFile> files;
  const Json* v = Find(doc, "files");
  if (!v) return files;
  if (!v->is_array()) return InvalidField("files", "expected a list");
  if (v->size() > DocumentLimits::kMaxFiles) return InvalidField("files", "more than 64 files");
  size_t total = 0;
  for (size_t i = 0; i < v->size(); ++i) {
    std::string where = Index("files", i);
    const Json& f = (*v)[i];
    METASTACK_RETURN_IF_ERROR(CheckObject(f, where));
    METASTACK_RETURN_IF_ERROR(CheckKeys(f, where, {"path", "contents", "contents_b64"}));
    METASTACK_ASSIGN_OR_RETURN(auto path, OptString(f, where, "path"));
    if (!path) return InvalidField(Field(where, "path"), "is required");
    METASTACK_RETURN_IF_ERROR(CheckGuestPath(Field(where, "path"), *path));
    METASTACK_ASSIGN_OR_RETURN(auto text, OptString(f, where, "contents"));
    METASTACK_ASSIGN_OR_RETURN(auto b64, OptString(f, where, "contents_b64"));
    if (text && b64) return InvalidField(where, "give contents or contents_b64, not both");
    std::string contents;
    if (b64) {
      auto raw = Base64Decode(*b64);
      if (!raw) return InvalidField(Field(where, "contents_b64"), "not valid base64");
      contents = std::move(*raw);
    } else if (text) {
      contents = *text;
    } else {
      return InvalidField(Field(where, "contents"), "is required");
    }
    if (contents.size() > DocumentLimits::kMaxFileBytes)
      return InvalidField(where, "contents larger than 1048576 bytes");
    total += contents.size();
    if (total > DocumentLimits::kMaxFilesTotalBytes)
      return InvalidField("files", "contents larger than 16777216 bytes in total");
    for (const auto& earlier : files)
      if (earlier.path == *path)
        return InvalidField(Field(where, "path"), "duplicate path " + *path);
    files.push_back(InjectedFile{*path, std::move(contents)});
  }
  return files;
}

Result<Subnet> ParseSubnet(const Json& s, const std::string& where) {
  METASTACK_RETURN_IF_ERROR(CheckObject(s, where));
  METASTACK_RETURN_IF_ERROR(
      CheckKeys(s, where,
                {"id", "cidr", "gateway_ip", "dns_nameservers", "enable_dhcp", "dhcp_server",
                 "ipv6_address_mode", "host_routes", "ip_address"}));
  Subnet subnet;
  METASTACK_ASSIGN_OR_RETURN(auto id, OptString(s, where, "id"));
  subnet.id = id.value_or("");
  METASTACK_ASSIGN_OR_RETURN(subnet.cidr, ReqString(s, where, "cidr"));
  auto cidr = ParseCidr(subnet.cidr);
  if (!cidr) return InvalidField(Field(where, "cidr"), "not a CIDR");
  subnet.version = cidr->address.version;
  METASTACK_ASSIGN_OR_RETURN(subnet.gateway_ip, OptIp(s, where, "gateway_ip", subnet.version));
  METASTACK_ASSIGN_OR_RETURN(subnet.dns_nameservers, StringList(s, where, "dns_nameservers"));
  for (size_t i = 0; i < subnet.dns_nameservers.size(); ++i)
    METASTACK_RETURN_IF_ERROR(
        CheckIp(Index(Field(where, "dns_nameservers"), i), subnet.dns_nameservers[i]));
  METASTACK_ASSIGN_OR_RETURN(auto dhcp, OptBool(s, where, "enable_dhcp"));
  subnet.enable_dhcp = dhcp.value_or(true);
  METASTACK_ASSIGN_OR_RETURN(subnet.dhcp_server, OptIp(s, where, "dhcp_server", subnet.version));
  METASTACK_ASSIGN_OR_RETURN(subnet.ipv6_address_mode, OptString(s, where, "ipv6_address_mode"));
  if (subnet.ipv6_address_mode) {
    const auto& m = *subnet.ipv6_address_mode;
    if (subnet.version != 6)
      return InvalidField(Field(where, "ipv6_address_mode"), "set on an IPv4 subnet");
    if (m != "slaac" && m != "dhcpv6-stateful" && m != "dhcpv6-stateless")
      return InvalidField(Field(where, "ipv6_address_mode"),
                          "expected slaac, dhcpv6-stateful or dhcpv6-stateless");
  }
  METASTACK_ASSIGN_OR_RETURN(subnet.ip_address, OptIp(s, where, "ip_address", subnet.version));
  if (subnet.ip_address && !cidr->Contains(*ParseIp(*subnet.ip_address)))
    return InvalidField(Field(where, "ip_address"), "not in " + subnet.cidr);
  if (const Json* routes = Find(s, "host_routes")) {
    std::string rwhere = Field(where, "host_routes");
    if (!routes->is_array()) return InvalidField(rwhere, "expected a list");
    for (size_t i = 0; i < routes->size(); ++i) {
      std::string w = Index(rwhere, i);
      const Json& r = (*routes)[i];
      METASTACK_RETURN_IF_ERROR(CheckObject(r, w));
      METASTACK_RETURN_IF_ERROR(CheckKeys(r, w, {"destination", "nexthop"}));
      HostRoute route;
      METASTACK_ASSIGN_OR_RETURN(route.destination, ReqString(r, w, "destination"));
      if (!ParseCidr(route.destination)) return InvalidField(Field(w, "destination"), "not a CIDR");
      METASTACK_ASSIGN_OR_RETURN(route.nexthop, ReqString(r, w, "nexthop"));
      METASTACK_RETURN_IF_ERROR(CheckIp(Field(w, "nexthop"), route.nexthop));
      subnet.host_routes.push_back(std::move(route));
    }
  }
  return subnet;
}

Result<Port> ParsePort(const Json& p, const std::string& where) {
  METASTACK_RETURN_IF_ERROR(CheckObject(p, where));
  METASTACK_RETURN_IF_ERROR(CheckKeys(p, where,
                                      {"id", "mac", "network_id", "network_name", "router_id",
                                       "mtu", "vif_type", "injected", "devname", "subnets"}));
  Port port;
  METASTACK_ASSIGN_OR_RETURN(port.id, ReqString(p, where, "id"));
  METASTACK_ASSIGN_OR_RETURN(port.mac, ReqString(p, where, "mac"));
  if (!IsMacAddress(port.mac)) return InvalidField(Field(where, "mac"), "not a MAC address");
  METASTACK_ASSIGN_OR_RETURN(port.network_id, ReqString(p, where, "network_id"));
  METASTACK_ASSIGN_OR_RETURN(auto name, OptString(p, where, "network_name"));
  port.network_name = name.value_or("");
  METASTACK_ASSIGN_OR_RETURN(port.router_id, OptString(p, where, "router_id"));
  METASTACK_ASSIGN_OR_RETURN(port.mtu, OptInt(p, where, "mtu"));
  if (port.mtu && (*port.mtu < 68 || *port.mtu > 65535))
    return InvalidField(Field(where, "mtu"), "not between 68 and 65535");
  METASTACK_ASSIGN_OR_RETURN(auto vif_type, OptString(p, where, "vif_type"));
  if (vif_type) {
    if (vif_type->empty()) return InvalidField(Field(where, "vif_type"), "must not be empty");
    port.vif_type = *vif_type;
  }
  METASTACK_ASSIGN_OR_RETURN(auto injected, OptBool(p, where, "injected"));
  port.injected = injected.value_or(false);
  METASTACK_ASSIGN_OR_RETURN(auto devname, OptString(p, where, "devname"));
  port.devname = devname.value_or("tap" + port.id.substr(0, 11));
  if (const Json* subnets = Find(p, "subnets")) {
    std::string swhere = Field(where, "subnets");
    if (!subnets->is_array()) return InvalidField(swhere, "expected a list");
    for (size_t i = 0; i < subnets->size(); ++i) {
      METASTACK_ASSIGN_OR_RETURN(auto subnet, ParseSubnet((*subnets)[i], Index(swhere, i)));
      port.subnets.push_back(std::move(subnet));
    }
  }
  return port;
}

Result<Device> ParseDevice(const Json& d, const std::string& where) {
  METASTACK_RETURN_IF_ERROR(CheckObject(d, where));
  METASTACK_RETURN_IF_ERROR(CheckKeys(
      d, where, {"type", "bus", "address", "mac", "tags", "vlan", "vf_trusted", "serial", "path"}));
  Device dev;
  METASTACK_ASSIGN_OR_RETURN(dev.type, ReqString(d, where, "type"));
  if (dev.type != "nic" && dev.type != "disk")
    return InvalidField(Field(where, "type"), "expected nic or disk");
  METASTACK_ASSIGN_OR_RETURN(dev.bus, OptString(d, where, "bus"));
  if (dev.bus && *dev.bus != "pci" && *dev.bus != "usb" && *dev.bus != "scsi" &&
      *dev.bus != "ide" && *dev.bus != "xen")
    return InvalidField(Field(where, "bus"), "expected pci, usb, scsi, ide or xen");
  METASTACK_ASSIGN_OR_RETURN(dev.address, OptString(d, where, "address"));
  if (dev.address && !dev.bus) return InvalidField(Field(where, "address"), "given without a bus");
  METASTACK_ASSIGN_OR_RETURN(dev.mac, OptString(d, where, "mac"));
  if (dev.mac && !IsMacAddress(*dev.mac))
    return InvalidField(Field(where, "mac"), "not a MAC address");
  if (Find(d, "tags")) {
    METASTACK_ASSIGN_OR_RETURN(auto tags, StringList(d, where, "tags"));
    dev.tags = std::move(tags);
  }
  METASTACK_ASSIGN_OR_RETURN(dev.vlan, OptInt(d, where, "vlan"));
  if (dev.vlan && (*dev.vlan < 0 || *dev.vlan > 4095))
    return InvalidField(Field(where, "vlan"), "not between 0 and 4095");
  METASTACK_ASSIGN_OR_RETURN(dev.vf_trusted, OptBool(d, where, "vf_trusted"));
  METASTACK_ASSIGN_OR_RETURN(dev.serial, OptString(d, where, "serial"));
  METASTACK_ASSIGN_OR_RETURN(dev.path, OptString(d, where, "path"));
  bool nic = dev.type == "nic";
  if (nic && !dev.mac) return InvalidField(Field(where, "mac"), "is required for a nic");
  if (nic && (dev.serial || dev.path))
    return InvalidField(Field(where, dev.serial ? "serial" : "path"), "only a disk has this field");
  if (!nic && (dev.mac || dev.vlan || dev.vf_trusted))
    return InvalidField(Field(where, dev.mac    ? "mac"
                                     : dev.vlan ? "vlan"
                                                : "vf_trusted"),
                        "only a nic has this field");
  return dev;
}

Result<Ec2Info> ParseEc2(const Json& doc, const std::string& uuid) {
  Ec2Info ec2;
  std::string hex;
  for (char c : uuid)
    if (c != '-') hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ec2.instance_id = "i-" + hex.substr(0, 8);
  ec2.reservation_id = "r-" + hex.substr(8, 8);
  const Json* v = Find(doc, "ec2");
  if (!v) return ec2;
  METASTACK_RETURN_IF_ERROR(CheckObject(*v, "ec2"));
  METASTACK_RETURN_IF_ERROR(
      CheckKeys(*v, "ec2",
                {"instance_id", "ami_id", "kernel_id", "ramdisk_id", "instance_type",
                 "reservation_id", "security_groups", "public_ipv4"}));
  if (v->contains("instance_id")) {
    METASTACK_ASSIGN_OR_RETURN(ec2.instance_id, OptString(*v, "ec2", "instance_id"));
  }
  if (v->contains("reservation_id")) {
    METASTACK_ASSIGN_OR_RETURN(ec2.reservation_id, OptString(*v, "ec2", "reservation_id"));
  }
  METASTACK_ASSIGN_OR_RETURN(ec2.ami_id, OptString(*v, "ec2", "ami_id"));
  METASTACK_ASSIGN_OR_RETURN(ec2.kernel_id, OptString(*v, "ec2", "kernel_id"));
  METASTACK_ASSIGN_OR_RETURN(ec2.ramdisk_id, OptString(*v, "ec2", "ramdisk_id"));
  METASTACK_ASSIGN_OR_RETURN(auto type, OptString(*v, "ec2", "instance_type"));
  ec2.instance_type = type.value_or("");
  METASTACK_ASSIGN_OR_RETURN(ec2.security_groups, StringList(*v, "ec2", "security_groups"));
  METASTACK_ASSIGN_OR_RETURN(ec2.public_ipv4, OptIp(*v, "ec2", "public_ipv4", 4));
  return ec2;
}

Result<BlockDevices> ParseBlockDevices(const Json& doc) {
  BlockDevices bd;
  const Json* v = Find(doc, "block_devices");
  if (!v) return bd;
  const std::string where = "block_devices";
  METASTACK_RETURN_IF_ERROR(CheckObject(*v, where));
  METASTACK_RETURN_IF_ERROR(CheckKeys(*v, where,
                                      {"root_device_name", "default_ephemeral_device",
                                       "default_swap_device", "volumes", "blanks"}));
  METASTACK_ASSIGN_OR_RETURN(bd.root_device_name, OptString(*v, where, "root_device_name"));
  METASTACK_ASSIGN_OR_RETURN(bd.default_ephemeral_device,
                             OptString(*v, where, "default_ephemeral_device"));
  METASTACK_ASSIGN_OR_RETURN(bd.default_swap_device, OptString(*v, where, "default_swap_device"));
  METASTACK_ASSIGN_OR_RETURN(bd.volumes, StringList(*v, where, "volumes"));
  if (const Json* blanks = Find(*v, "blanks")) {
    std::string bwhere = Field(where, "blanks");
    if (!blanks->is_array()) return InvalidField(bwhere, "expected a list");
    for (size_t i = 0; i < blanks->size(); ++i) {
      std::string w = Index(bwhere, i);
      const Json& b = (*blanks)[i];
      METASTACK_RETURN_IF_ERROR(CheckObject(b, w));
      METASTACK_RETURN_IF_ERROR(CheckKeys(b, w, {"device", "guest_format"}));
      BlankDevice blank;
      METASTACK_ASSIGN_OR_RETURN(blank.device, ReqString(b, w, "device"));
      METASTACK_ASSIGN_OR_RETURN(blank.guest_format, OptString(b, w, "guest_format"));
      bd.blanks.push_back(std::move(blank));
    }
  }
  return bd;
}

}  // namespace

Result<Instance> ParseInstance(std::string_view json_text) {
  if (json_text.size() > DocumentLimits::kMaxDocumentBytes)
    return InvalidField("", "instance document larger than 67108864 bytes");
  Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    // Parse again for the position of the error; only on this (rare, non-hot) path.
    try {
      (void)Json::parse(json_text);
    } catch (const Json::parse_error& e) {
      std::string what = e.what();
      size_t pos = what.find("] ");
      return InvalidField(
          "", "not valid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
    }
    return InvalidField("", "not valid JSON");
  }
  return ParseInstanceJson(doc);
}

namespace {

Result<std::vector<Port>> ParsePorts(const Json& doc) {
  std::vector<Port> out;
  const Json* ports = Find(doc, "ports");
  if (!ports) return out;
  if (!ports->is_array()) return InvalidField("ports", "expected a list");
  if (ports->size() > DocumentLimits::kMaxPorts) return InvalidField("ports", "more than 64 ports");
  for (size_t i = 0; i < ports->size(); ++i) {
    METASTACK_ASSIGN_OR_RETURN(auto port, ParsePort((*ports)[i], Index("ports", i)));
    for (const Port& earlier : out)
      if (earlier.id == port.id)
        return InvalidField(Field(Index("ports", i), "id"), "duplicate port id " + port.id);
    out.push_back(std::move(port));
  }
  return out;
}

Result<std::vector<Device>> ParseDevices(const Json& doc) {
  std::vector<Device> out;
  const Json* devices = Find(doc, "devices");
  if (!devices) return out;
  if (!devices->is_array()) return InvalidField("devices", "expected a list");
  for (size_t i = 0; i < devices->size(); ++i) {
    METASTACK_ASSIGN_OR_RETURN(auto dev, ParseDevice((*devices)[i], Index("devices", i)));
    out.push_back(std::move(dev));
  }
  return out;
}

Result<MetadataOptions> ParseMetadataOptions(const Json& doc) {
  MetadataOptions options;
  const Json* v = Find(doc, "metadata_options");
  if (!v) return options;
  const std::string where = "metadata_options";
  METASTACK_RETURN_IF_ERROR(CheckObject(*v, where));
  METASTACK_RETURN_IF_ERROR(CheckKeys(*v, where, {"http_tokens"}));
  METASTACK_ASSIGN_OR_RETURN(auto tokens, OptString(*v, where, "http_tokens"));
  if (tokens) {
    options.http_tokens = ParseHttpTokens(*tokens);
    if (!options.http_tokens)
      return InvalidField(Field(where, "http_tokens"), "expected \"optional\" or \"required\"");
  }
  return options;
}

Result<std::vector<int64_t>> ParseDedicatedCpus(const Json& doc) {
  std::vector<int64_t> out;
  const Json* cpus = Find(doc, "dedicated_cpus");
  if (!cpus) return out;
  if (!cpus->is_array()) return InvalidField("dedicated_cpus", "expected a list of integers");
  for (size_t i = 0; i < cpus->size(); ++i) {
    const Json& c = (*cpus)[i];
    if (!c.is_number_integer() || c.get<int64_t>() < 0)
      return InvalidField(Index("dedicated_cpus", i), "expected a CPU number");
    int64_t cpu = c.get<int64_t>();
    if (std::find(out.begin(), out.end(), cpu) != out.end())
      return InvalidField(Index("dedicated_cpus", i),
                          "CPU " + std::to_string(cpu) + " listed twice");
    out.push_back(cpu);
  }
  return out;
}

}  // namespace

Result<Instance> ParseInstanceJson(const Json& doc) {
  if (!doc.is_object()) return InvalidField("", "an instance document must be a JSON object");
  METASTACK_RETURN_IF_ERROR(CheckKeys(doc, "",
                                      {"uuid",
                                       "name",
                                       "hostname",
                                       "project_id",
                                       "user_id",
                                       "availability_zone",
                                       "launch_index",
                                       "created_at",
                                       "image_id",
                                       "public_keys",
                                       "public_key_types",
                                       "user_data",
                                       "user_data_b64",
                                       "meta",
                                       "files",
                                       "admin_pass",
                                       "password",
                                       "ec2",
                                       "block_devices",
                                       "ports",
                                       "vendor_data",
                                       "devices",
                                       "dedicated_cpus",
                                       "metadata_options",
                                       "config_drive"}));
  Instance inst;
  METASTACK_ASSIGN_OR_RETURN(inst.uuid, ReqString(doc, "", "uuid"));
  if (!IsValidUuid(inst.uuid)) return InvalidField("uuid", "not a UUID");
  METASTACK_ASSIGN_OR_RETURN(inst.hostname, ReqString(doc, "", "hostname"));
  if (!IsValidHostname(inst.hostname)) return InvalidField("hostname", "not a valid hostname");
  METASTACK_ASSIGN_OR_RETURN(auto name, OptString(doc, "", "name"));
  inst.name = name.value_or(inst.hostname);
  if (Utf8Length(inst.name) > 255) return InvalidField("name", "longer than 255 characters");
  METASTACK_ASSIGN_OR_RETURN(inst.project_id, ReqString(doc, "", "project_id"));
  METASTACK_ASSIGN_OR_RETURN(auto user_id, OptString(doc, "", "user_id"));
  inst.user_id = user_id.value_or("");
  METASTACK_ASSIGN_OR_RETURN(inst.availability_zone, OptString(doc, "", "availability_zone"));
  METASTACK_ASSIGN_OR_RETURN(auto launch_index, OptInt(doc, "", "launch_index"));
  inst.launch_index = launch_index.value_or(0);
  if (inst.launch_index < 0) return InvalidField("launch_index", "must not be negative");
  METASTACK_ASSIGN_OR_RETURN(inst.created_at, OptString(doc, "", "created_at"));
  METASTACK_ASSIGN_OR_RETURN(inst.image_id, OptString(doc, "", "image_id"));
  METASTACK_ASSIGN_OR_RETURN(inst.public_keys, ParsePublicKeys(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.user_data, ParseUserData(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.meta, ParseMeta(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.files, ParseFiles(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.admin_pass, OptString(doc, "", "admin_pass"));
  METASTACK_ASSIGN_OR_RETURN(inst.password, OptString(doc, "", "password"));
  if (inst.password && inst.password->size() > DocumentLimits::kMaxPasswordBytes)
    return InvalidField("password", "longer than 1020 bytes");
  METASTACK_ASSIGN_OR_RETURN(inst.ec2, ParseEc2(doc, inst.uuid));
  METASTACK_ASSIGN_OR_RETURN(inst.block_devices, ParseBlockDevices(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.ports, ParsePorts(doc));
  if (const Json* vd = Find(doc, "vendor_data")) inst.vendor_data = *vd;
  METASTACK_ASSIGN_OR_RETURN(inst.devices, ParseDevices(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.dedicated_cpus, ParseDedicatedCpus(doc));
  METASTACK_ASSIGN_OR_RETURN(inst.metadata_options, ParseMetadataOptions(doc));
  METASTACK_ASSIGN_OR_RETURN(auto config_drive, OptBool(doc, "", "config_drive"));
  inst.config_drive = config_drive.value_or(false);
  return inst;
}

}  // namespace metastack::core
