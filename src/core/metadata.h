#pragma once
// The rendering core: given an instance, a path and the deployment's settings, what the
// metadata service answers, and the file set of a config drive. Output is byte-identical to
// Nova's InstanceMetadata (docs/architecture.md lists the deliberate differences). No I/O:
// randomness comes in through RenderContext so that callers choose the source (the service
// uses the OS generator; reproducible config drives use a seeded one).
// Pure functions; thread-safe as long as the RandomBytes callable is.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "core/instance.h"
#include "core/py_json.h"
#include "core/route.h"

namespace metastack::core {

inline constexpr std::string_view kContentTypeText = "text/plain; charset=UTF-8";
inline constexpr std::string_view kContentTypeJson = "application/json";
inline constexpr std::string_view kContentTypeHtml = "text/html; charset=UTF-8";

// Deployment-wide settings (flags and config, not part of any instance document).
struct Settings {
  // Appended to the hostname ("web-01.novalocal"); empty gives the bare hostname.
  std::string dhcp_domain = "novalocal";
  // Vendor data for instances whose document has none ({} when unset).
  std::optional<Json> vendor_data;
  // "YYYY-MM-DD": OpenStack versions dated after it are hidden from the /openstack listing.
  std::string today = "9999-12-31";
};

class IdentitySigner;  // core/identity.h

using RandomBytes = std::function<void(std::span<uint8_t>)>;

// How the metadata reaches the guest.
enum class Delivery {
  kService,      // the HTTP metadata service
  kConfigDrive,  // a config drive: adds injected files and admin_pass
};

// One dynamic vendor data target's answer (Nova's DynamicJSON), placed in vendor_data2.json
// under the target's name, after "static".
struct VendorDataPart {
  std::string name;
  Json value;
};
using VendorDataParts = std::vector<VendorDataPart>;

struct RenderContext {
  Delivery delivery = Delivery::kService;
  // The caller's address, shown as EC2 local-ipv4 when the instance has no IPv4 fixed IP.
  std::optional<std::string> address;
  RandomBytes random;  // required whenever meta_data.json is rendered
  // vendor_data2.json's dynamic targets, in configuration order; null or empty: none (the
  // answer is {"static": ...} alone). A name already present ("static", or an earlier target of
  // the same name) is left out, as Nova drops a duplicate key.
  const VendorDataParts* dynamic_vendor_data = nullptr;
  // The instance identity document's signer: when set, EC2 versions from 2009-04-04 (and
  // latest) serve dynamic/instance-identity/ and list dynamic/; null: no dynamic/ at all.
  const IdentitySigner* identity = nullptr;
};

// A rendered answer.
struct Document {
  std::string content_type;
  std::string body;
};

// What the service answers for `path` (already percent-decoded, without query). Errors:
// kNotFound for anything Nova answers 404 (and for paths below a leaf, where Nova fails
// with 500). Password GET is answered here; POST is the service's business.
Result<Document> Render(const Instance& instance, const Route& route, const Settings& settings,
                        const RenderContext& ctx);
Result<Document> Lookup(const Instance& instance, std::string_view path, const Settings& settings,
                        const RenderContext& ctx);

// The /openstack version listing (versions after settings.today hidden) and the EC2 one.
std::string OpenStackVersionListing(const Settings& settings);
std::string Ec2VersionListing();

struct DriveFile {
  std::string path;  // relative: "openstack/latest/meta_data.json"
  std::string contents;
};

// Every file Nova puts on a config drive, in Nova's order.
std::vector<DriveFile> ConfigDriveFiles(const Instance& instance, const Settings& settings,
                                        const RandomBytes& random);

// The EC2 metadata tree of one version (index into kEc2Versions), as Nova builds it: objects
// are directories; a "_name" member is the name a listing shows for that directory.
Json Ec2MetaData(const Instance& instance, int ec2_version, const Settings& settings,
                 const RenderContext& ctx);

// The hostname as served: "<hostname>.<dhcp_domain>", or bare when dhcp_domain is empty.
std::string ServedHostname(const Instance& instance, const Settings& settings);

}  // namespace metastack::core
