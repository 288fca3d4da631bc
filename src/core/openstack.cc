// The OpenStack tree (/openstack/<version>/...).
#include <algorithm>
#include <array>
#include <cstdio>

#include "base/base64.h"
#include "core/network_data.h"
#include "core/render_parts.h"

namespace metastack::core::internal {
namespace {

std::string ContentKey(size_t n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04zu", n);
  return buf;
}

std::string RandomSeed(const RenderContext& ctx) {
  std::array<uint8_t, 512> bytes{};
  ctx.random(bytes);
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Nova's _get_device_metadata: which keys a device shows depends on the version.
Json Devices(const Instance& instance, int v) {
  Json list = Json::array();
  for (const auto& dev : instance.devices) {
    Json d = Json::object();
    if (dev.type == "nic") {
      if (v >= kOcata && dev.vlan) d["vlan"] = *dev.vlan;
      if (v >= kRocky) d["vf_trusted"] = dev.vf_trusted.value_or(false);
      d["type"] = "nic";
      d["mac"] = dev.mac.value_or("");
      if (!dev.tags && !d.contains("vlan") && !d.contains("vf_trusted")) continue;
    } else {
      d["type"] = "disk";
      if (dev.serial) d["serial"] = *dev.serial;
      if (dev.path) d["path"] = *dev.path;
    }
    d["bus"] = dev.bus.value_or("none");
    d["address"] = dev.bus ? dev.address.value_or("none") : "none";
    if (dev.tags) d["tags"] = *dev.tags;
    list.push_back(std::move(d));
  }
  return list;
}

const Json& StaticVendorData(const Instance& instance, const Settings& settings) {
  static const Json kEmpty = Json::object();
  if (instance.vendor_data) return *instance.vendor_data;
  if (settings.vendor_data) return *settings.vendor_data;
  return kEmpty;
}

}  // namespace

Content BuildContent(const Instance& instance, Delivery delivery) {
  Content c;
  if (auto interfaces = InjectedInterfaces(instance)) {
    c.network_config_key = ContentKey(c.files.size());
    c.files[*c.network_config_key] = std::move(*interfaces);
  }
  if (delivery == Delivery::kConfigDrive) {
    for (const auto& f : instance.files) {
      std::string key = ContentKey(c.files.size());
      c.injected.emplace_back(f.path, key);
      c.files[key] = f.contents;
    }
  }
  return c;
}

std::string MetaDataJson(const Instance& instance, int v, const Settings& settings,
                         const RenderContext& ctx, const Content& content) {
  Json md;
  md["uuid"] = instance.uuid;
  if (!instance.meta.empty()) {
    Json meta = Json::object();
    for (const auto& [k, val] : instance.meta) meta[k] = val;
    md["meta"] = std::move(meta);
  }
  if (!content.injected.empty()) {
    Json files = Json::array();
    for (const auto& [path, key] : content.injected)
      files.push_back(Json{{"path", path}, {"content_path", "/content/" + key}});
    md["files"] = std::move(files);
  }
  if (ctx.delivery == Delivery::kConfigDrive && instance.admin_pass &&
      !instance.admin_pass->empty())
    md["admin_pass"] = *instance.admin_pass;
  if (content.network_config_key)
    md["network_config"] = Json{{"name", "network_config"},
                                {"content_path", "/content/" + *content.network_config_key}};
  if (!instance.public_keys.empty()) {
    // Nova exposes only the first key; we expose all of them.
    Json public_keys = Json::object();
    Json keys = Json::array();
    for (const auto& key : instance.public_keys) {
      public_keys[key.name] = key.data;
      keys.push_back(Json{{"name", key.name}, {"type", key.type}, {"data", key.data}});
    }
    md["public_keys"] = std::move(public_keys);
    md["keys"] = std::move(keys);
  }
  md["hostname"] = ServedHostname(instance, settings);
  md["name"] = instance.name;
  md["launch_index"] = instance.launch_index;
  md["availability_zone"] =
      instance.availability_zone ? Json(*instance.availability_zone) : Json(nullptr);
  if (v >= kGrizzly) md["random_seed"] = RandomSeed(ctx);
  if (v >= kLiberty) md["project_id"] = instance.project_id;
  if (v >= kNewtonOne) md["devices"] = Devices(instance, v);
  if (v >= kVictoria) {
    std::vector<int64_t> cpus = instance.dedicated_cpus;
    std::sort(cpus.begin(), cpus.end());
    md["dedicated_cpus"] = cpus;
  }
  return DumpPython(md);
}

std::string VendorDataJson(const Instance& instance, const Settings& settings) {
  return DumpPython(StaticVendorData(instance, settings));
}

std::string VendorData2Json(const Instance& instance, const Settings& settings,
                            const VendorDataParts* dynamic) {
  Json j;
  j["static"] = StaticVendorData(instance, settings);
  if (dynamic)
    for (const auto& part : *dynamic)
      if (!j.contains(part.name)) j[part.name] = part.value;
  return DumpPython(j);
}

std::string NetworkDataJson(const Instance& instance) {
  auto nd = NetworkData(instance);
  return nd ? DumpPython(*nd) : "{}";
}

std::string OpenStackListing(const Instance& instance, int v) {
  std::string out = "meta_data.json";
  if (instance.user_data) out += "\nuser_data";
  if (v >= kGrizzly) out += "\npassword";
  if (v >= kHavana) out += "\nvendor_data.json";
  if (v >= kLiberty) out += "\nnetwork_data.json";
  if (v >= kNewtonTwo) out += "\nvendor_data2.json";
  return out;
}

}  // namespace metastack::core::internal
