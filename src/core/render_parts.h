#pragma once
// Internal to core/: the OpenStack and EC2 halves of the renderer (metadata.cc ties them
// together). Not part of core's public interface.

#include <map>
#include <string>
#include <vector>

#include "core/metadata.h"

namespace metastack::core::internal {

// The EC2 tree of a version ({"meta-data": {...}, "user-data": "..."}), and the node that
// `tokens` lead to in it (kNotFound below a leaf or into a list).
Json Ec2Tree(const Instance& instance, int ec2_version, const Settings& settings,
             const RenderContext& ctx);
Result<const Json*> Ec2Node(const Json& tree, const std::vector<std::string>& tokens);

// The EC2 answer for a route of kind kEc2.
Result<Document> RenderEc2(const Instance& instance, const Route& route, const Settings& settings,
                           const RenderContext& ctx);

// Nova's "content" files: the injected interfaces file (if any) then, on a config drive, the
// injected files, keyed "0000", "0001", ...
struct Content {
  std::map<std::string, std::string> files;
  std::optional<std::string> network_config_key;
  std::vector<std::pair<std::string, std::string>> injected;  // guest path, key
};
Content BuildContent(const Instance& instance, Delivery delivery);

std::string MetaDataJson(const Instance& instance, int os_version, const Settings& settings,
                         const RenderContext& ctx, const Content& content);
std::string VendorDataJson(const Instance& instance, const Settings& settings);
std::string VendorData2Json(const Instance& instance, const Settings& settings,
                            const VendorDataParts* dynamic);
std::string NetworkDataJson(const Instance& instance);
std::string OpenStackListing(const Instance& instance, int os_version);

// The EC2 dynamic/ subtree (`tokens` start with "dynamic"): the instance identity document and
// its signatures (core/identity.h).
Result<Document> RenderDynamic(const Instance& instance, const std::vector<std::string>& tokens,
                               const IdentitySigner& signer);

// Nova's ec2_md_print: how a tree node reads as text.
std::string PrintNode(const Json& node);

}  // namespace metastack::core::internal
