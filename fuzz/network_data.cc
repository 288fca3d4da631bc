// Fuzz target: network rendering from an instance document: network_data.json
// (core::NetworkData and the served file), the injected interfaces(5) file, the EC2 addresses
// and every EC2 version's tree, and a config drive's file set.
//
// Input: an instance document (only accepted ones reach the renderers).
// Invariants: nothing throws; network_data.json as served is NetworkData's value ("{}" without
// ports) and valid JSON; link ids are unique and every network names an existing link; every
// network's ip_address and netmask are addresses of the network's IP version; every EC2 fixed
// IPv4 address is an IPv4 address.

#include "core/network_data.h"

#include <cstdint>
#include <set>
#include <string>

#include "core/instance.h"
#include "core/ip.h"
#include "core/metadata.h"
#include "fuzz/check.h"

namespace metastack::fuzz {
namespace {

void ZeroRandom(std::span<uint8_t> out) { std::fill(out.begin(), out.end(), uint8_t{0}); }

bool IsIpOfVersion(const core::Json& v, int version) {
  if (!v.is_string()) return false;
  auto ip = core::ParseIp(v.get<std::string>());
  return ip && ip->version == version;
}

void CheckNetworkData(const core::Json& nd) {
  std::set<std::string> links;
  for (const auto& link : nd.at("links"))
    FUZZ_CHECK(links.insert(link.at("id").get<std::string>()).second,
               "duplicate link id: " + nd.dump());
  for (const auto& net : nd.at("networks")) {
    FUZZ_CHECK(links.count(net.at("link").get<std::string>()) == 1,
               "a network names no link: " + nd.dump());
    std::string type = net.at("type").get<std::string>();
    int version = type.starts_with("ipv6") ? 6 : 4;
    if (net.contains("ip_address")) {
      FUZZ_CHECK(IsIpOfVersion(net["ip_address"], version), net.dump());
      FUZZ_CHECK(IsIpOfVersion(net["netmask"], version), net.dump());
    }
  }
}

void Render(const core::Instance& inst) {
  core::Settings settings;
  core::RenderContext ctx{core::Delivery::kService, std::nullopt, ZeroRandom};
  std::optional<core::Json> nd = core::NetworkData(inst);
  if (nd) CheckNetworkData(*nd);
  auto served = core::Lookup(inst, "/openstack/latest/network_data.json", settings, ctx);
  FUZZ_CHECK(served.has_value(), served.error().ToString());
  core::Json body = core::Json::parse(served->body, nullptr, false);
  FUZZ_CHECK(!body.is_discarded(), served->body);
  FUZZ_CHECK(body == (nd ? *nd : core::Json::object()), served->body);
  (void)core::InjectedInterfaces(inst);
  for (const auto& ip : core::Ec2Addresses(inst).fixed_ipv4) FUZZ_CHECK(IsIpOfVersion(ip, 4), ip);
  for (int v = 0; v < static_cast<int>(core::kEc2Versions.size()); ++v)
    (void)core::Ec2MetaData(inst, v, settings, ctx);
  (void)core::ConfigDriveFiles(inst, settings, ZeroRandom);
}

}  // namespace
}  // namespace metastack::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metastack;
  auto inst = core::ParseInstance(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!inst) return 0;
  try {
    fuzz::Render(*inst);
  } catch (const std::exception& e) {
    fuzz::Fail(__FILE__, __LINE__, "rendering threw", e.what());
  }
  return 0;
}
