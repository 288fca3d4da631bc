// The EC2-compatible tree (/<version>/meta-data/..., /<version>/user-data).
#include <algorithm>
#include <vector>

#include "core/network_data.h"
#include "core/render_parts.h"

namespace metastack::core {
namespace {

Json OptionalText(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }

std::string StripDev(const std::string& device) {
  return device.starts_with("/dev/") ? device.substr(5) : device;
}

// nova.block_device.instance_block_mapping.
Json BlockDeviceMapping(const BlockDevices& bd) {
  Json m;
  if (!bd.root_device_name) {
    m["ami"] = "sda1";
    m["ephemeral0"] = "sda2";
    m["root"] = "/dev/sda1";
    m["swap"] = "sda3";
    return m;
  }
  m["ami"] = StripDev(*bd.root_device_name);
  m["root"] = *bd.root_device_name;
  if (bd.default_ephemeral_device && !bd.default_ephemeral_device->empty())
    m["ephemeral0"] = *bd.default_ephemeral_device;
  if (bd.default_swap_device && !bd.default_swap_device->empty())
    m["swap"] = *bd.default_swap_device;
  std::vector<std::string> volumes = bd.volumes;
  std::sort(volumes.begin(), volumes.end());
  for (size_t i = 0; i < volumes.size(); ++i) m["ebs" + std::to_string(i)] = volumes[i];
  const BlankDevice* swap = nullptr;
  for (const auto& b : bd.blanks)
    if (b.guest_format == "swap") swap = &b;  // the last one wins, as in Nova
  if (swap) m["swap"] = swap->device;
  int num = 0;
  for (const auto& b : bd.blanks)
    if (b.guest_format != "swap") m["ephemeral" + std::to_string(num++)] = b.device;
  return m;
}

}  // namespace

std::string ServedHostname(const Instance& instance, const Settings& settings) {
  if (settings.dhcp_domain.empty()) return instance.hostname;
  return instance.hostname + "." + settings.dhcp_domain;
}

Json Ec2MetaData(const Instance& instance, int v, const Settings& settings,
                 const RenderContext& ctx) {
  std::string hostname = ServedHostname(instance, settings);
  Ec2IpInfo ips = Ec2Addresses(instance);
  Json md;
  md["ami-id"] = OptionalText(instance.ec2.ami_id);
  md["ami-launch-index"] = instance.launch_index;
  md["ami-manifest-path"] = "FIXME";
  md["instance-id"] = OptionalText(instance.ec2.instance_id);
  md["hostname"] = hostname;
  md["local-ipv4"] = ips.fixed_ipv4.empty() ? OptionalText(ctx.address) : Json(ips.fixed_ipv4[0]);
  md["reservation-id"] = OptionalText(instance.ec2.reservation_id);
  md["security-groups"] = instance.ec2.security_groups;
  if (!instance.public_keys.empty()) {
    // Nova shows only the first key; we show all of them, numbered as EC2 does.
    Json keys = Json::object();
    for (size_t i = 0; i < instance.public_keys.size(); ++i) {
      const auto& key = instance.public_keys[i];
      std::string n = std::to_string(i);
      keys[n] = Json{{"_name", n + "=" + key.name}, {"openssh-key", key.data}};
    }
    md["public-keys"] = std::move(keys);
  }
  if (v >= kEc2_2007_01_19) {
    md["local-hostname"] = hostname;
    md["public-hostname"] = hostname;
    md["public-ipv4"] = ips.floating_ipv4.empty() ? "" : ips.floating_ipv4[0];
  }
  if (v >= kEc2_2007_08_29) md["instance-type"] = instance.ec2.instance_type;
  if (v >= kEc2_2007_12_15) {
    md["block-device-mapping"] = BlockDeviceMapping(instance.block_devices);
    if (instance.ec2.kernel_id && !instance.ec2.kernel_id->empty())
      md["kernel-id"] = *instance.ec2.kernel_id;
    if (instance.ec2.ramdisk_id && !instance.ec2.ramdisk_id->empty())
      md["ramdisk-id"] = *instance.ec2.ramdisk_id;
  }
  if (v >= kEc2_2008_02_01)
    md["placement"] = Json{{"availability-zone", OptionalText(instance.availability_zone)}};
  if (v >= kEc2_2008_09_01) md["instance-action"] = "none";
  return md;
}

namespace internal {

std::string PrintNode(const Json& node) {
  switch (node.type()) {
    case Json::value_t::object: {
      std::vector<std::string> keys;
      for (const auto& [k, _] : node.items())
        if (k != "_name") keys.push_back(k);
      std::sort(keys.begin(), keys.end());
      std::string out;
      for (const auto& k : keys) {
        if (!out.empty()) out += '\n';
        const Json& child = node[k];
        if (child.is_object())
          out += child.contains("_name") ? PrintNode(child["_name"]) : k + "/";
        else
          out += k;
      }
      return out;
    }
    case Json::value_t::array: {
      std::string out;
      for (size_t i = 0; i < node.size(); ++i) {
        if (i) out += '\n';
        out += PrintNode(node[i]);
      }
      return out;
    }
    case Json::value_t::string:
      return node.get<std::string>();
    case Json::value_t::null:
      return "None";
    case Json::value_t::boolean:
      return node.get<bool>() ? "True" : "False";
    default:
      return node.dump();
  }
}

Json Ec2Tree(const Instance& instance, int ec2_version, const Settings& settings,
             const RenderContext& ctx) {
  Json tree;
  tree["meta-data"] = Ec2MetaData(instance, ec2_version, settings, ctx);
  if (instance.user_data) tree["user-data"] = *instance.user_data;
  // The signed identity document (docs/extensions.md): listed as "dynamic/", rendered on its own
  // path only (RenderEc2), so that no other answer pays for its signatures.
  if (ctx.identity && ec2_version >= kEc2_2009_04_04) tree["dynamic"] = Json::object();
  return tree;
}

Result<const Json*> Ec2Node(const Json& tree, const std::vector<std::string>& tokens) {
  const Json* node = &tree;
  for (const auto& token : tokens) {
    // Below a leaf (or into a list) there is nothing: 404, where Nova fails with a 500.
    if (!node->is_object() || !node->contains(token))
      return std::unexpected(MakeError(ErrorCode::kNotFound, "no such metadata path"));
    node = &(*node)[token];
  }
  return node;
}

Result<Document> RenderEc2(const Instance& instance, const Route& route, const Settings& settings,
                           const RenderContext& ctx) {
  if (ctx.identity && route.version >= kEc2_2009_04_04 && !route.tokens.empty() &&
      route.tokens[0] == "dynamic")
    return RenderDynamic(instance, route.tokens, *ctx.identity);
  Json tree = Ec2Tree(instance, route.version, settings, ctx);
  auto node = Ec2Node(tree, route.tokens);
  if (!node) return std::unexpected(node.error());
  return Document{std::string(kContentTypeText), PrintNode(**node)};
}

}  // namespace internal
}  // namespace metastack::core
