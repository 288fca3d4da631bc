// Instance documents out: the canonical JSON form (what ParseInstanceJson reads back unchanged).
#include "base/base64.h"
#include "base/utf8.h"
#include "core/instance.h"

namespace metastack::core {
namespace {

using OptText = std::optional<std::string>;

template <typename T>
void SetIf(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

Json OrNull(const OptText& v) { return v ? Json(*v) : Json(nullptr); }

// Text as it is; anything that is not UTF-8 base64-encoded under `key` + "_b64".
void SetText(Json& j, const std::string& key, const std::string& value) {
  if (IsValidUtf8(value))
    j[key] = value;
  else
    j[key + "_b64"] = Base64Encode(value);
}

Json PublicKeysJson(const Instance& inst, Json& types) {
  Json keys = Json::object();
  for (const auto& k : inst.public_keys) {
    keys[k.name] = k.data;
    if (k.type != "ssh") types[k.name] = k.type;
  }
  return keys;
}

Json FilesJson(const std::vector<InjectedFile>& files) {
  Json out = Json::array();
  for (const auto& f : files) {
    Json fj{{"path", f.path}};
    SetText(fj, "contents", f.contents);
    out.push_back(std::move(fj));
  }
  return out;
}

Json Ec2Json(const Ec2Info& ec2) {
  Json j;
  j["instance_id"] = OrNull(ec2.instance_id);
  j["ami_id"] = OrNull(ec2.ami_id);
  j["kernel_id"] = OrNull(ec2.kernel_id);
  j["ramdisk_id"] = OrNull(ec2.ramdisk_id);
  j["instance_type"] = ec2.instance_type;
  j["reservation_id"] = OrNull(ec2.reservation_id);
  j["security_groups"] = ec2.security_groups;
  j["public_ipv4"] = OrNull(ec2.public_ipv4);
  return j;
}

Json BlockDevicesJson(const BlockDevices& devices) {
  Json j;
  j["root_device_name"] = OrNull(devices.root_device_name);
  j["default_ephemeral_device"] = OrNull(devices.default_ephemeral_device);
  j["default_swap_device"] = OrNull(devices.default_swap_device);
  j["volumes"] = devices.volumes;
  Json blanks = Json::array();
  for (const auto& b : devices.blanks)
    blanks.push_back(Json{{"device", b.device}, {"guest_format", OrNull(b.guest_format)}});
  j["blanks"] = blanks;
  return j;
}

Json SubnetJson(const Subnet& s) {
  Json j;
  j["id"] = s.id;
  j["cidr"] = s.cidr;
  SetIf(j, "gateway_ip", s.gateway_ip);
  j["dns_nameservers"] = s.dns_nameservers;
  j["enable_dhcp"] = s.enable_dhcp;
  SetIf(j, "dhcp_server", s.dhcp_server);
  SetIf(j, "ipv6_address_mode", s.ipv6_address_mode);
  Json routes = Json::array();
  for (const auto& r : s.host_routes)
    routes.push_back(Json{{"destination", r.destination}, {"nexthop", r.nexthop}});
  j["host_routes"] = routes;
  SetIf(j, "ip_address", s.ip_address);
  return j;
}

Json PortJson(const Port& p) {
  Json j;
  j["id"] = p.id;
  j["mac"] = p.mac;
  j["network_id"] = p.network_id;
  j["network_name"] = p.network_name;
  SetIf(j, "router_id", p.router_id);
  SetIf(j, "mtu", p.mtu);
  j["vif_type"] = p.vif_type;
  j["injected"] = p.injected;
  j["devname"] = p.devname;
  Json subnets = Json::array();
  for (const auto& s : p.subnets) subnets.push_back(SubnetJson(s));
  j["subnets"] = subnets;
  return j;
}

Json DeviceJson(const Device& d) {
  Json j;
  j["type"] = d.type;
  SetIf(j, "bus", d.bus);
  SetIf(j, "address", d.address);
  SetIf(j, "mac", d.mac);
  SetIf(j, "tags", d.tags);
  SetIf(j, "vlan", d.vlan);
  SetIf(j, "vf_trusted", d.vf_trusted);
  SetIf(j, "serial", d.serial);
  SetIf(j, "path", d.path);
  return j;
}

template <typename T, typename F>
Json ListJson(const std::vector<T>& items, F to_json) {
  Json out = Json::array();
  for (const auto& item : items) out.push_back(to_json(item));
  return out;
}

}  // namespace

Json InstanceToJson(const Instance& inst) {
  Json j;
  j["uuid"] = inst.uuid;
  j["name"] = inst.name;
  j["hostname"] = inst.hostname;
  j["project_id"] = inst.project_id;
  j["user_id"] = inst.user_id;
  j["availability_zone"] = OrNull(inst.availability_zone);
  j["launch_index"] = inst.launch_index;
  SetIf(j, "created_at", inst.created_at);
  SetIf(j, "image_id", inst.image_id);
  Json types = Json::object();
  j["public_keys"] = PublicKeysJson(inst, types);
  if (!types.empty()) j["public_key_types"] = types;
  if (inst.user_data) SetText(j, "user_data", *inst.user_data);
  Json meta = Json::object();
  for (const auto& [k, v] : inst.meta) meta[k] = v;
  j["meta"] = meta;
  j["files"] = FilesJson(inst.files);
  SetIf(j, "admin_pass", inst.admin_pass);
  SetIf(j, "password", inst.password);
  j["ec2"] = Ec2Json(inst.ec2);
  j["block_devices"] = BlockDevicesJson(inst.block_devices);
  j["ports"] = ListJson(inst.ports, PortJson);
  SetIf(j, "vendor_data", inst.vendor_data);
  j["devices"] = ListJson(inst.devices, DeviceJson);
  j["dedicated_cpus"] = inst.dedicated_cpus;
  if (inst.metadata_options.http_tokens)
    j["metadata_options"] = {
        {"http_tokens", std::string(HttpTokensName(*inst.metadata_options.http_tokens))}};
  if (inst.config_drive) j["config_drive"] = true;
  return j;
}

}  // namespace metastack::core
