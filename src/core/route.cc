#include "core/route.h"

#include <algorithm>

#include "base/strings.h"

namespace metastack::core {
namespace {

template <size_t N>
int IndexOf(const std::array<std::string_view, N>& list, std::string_view v) {
  auto it = std::find(list.begin(), list.end(), v);
  return it == list.end() ? -1 : static_cast<int>(it - list.begin());
}

Route OpenStackRoute(const std::vector<std::string>& t) {
  Route r;
  if (t[1] == "content") {
    if (t.size() != 3) return r;
    r.kind = RouteKind::kContent;
    r.tokens = {t[2]};
    return r;
  }
  int v = t[1] == "latest" ? kVictoria : IndexOf(kOpenStackVersions, t[1]);
  if (v < 0) return r;
  r.version = v;
  if (t.size() == 2) {
    r.kind = RouteKind::kOpenStack;
    return r;
  }
  std::string name = t[2];
  for (size_t i = 3; i < t.size(); ++i) name += "/" + t[i];
  struct Entry {
    std::string_view name;
    OpenStackFile file;
    int since;
  };
  // "version" is Nova's internal name for the listing and is reachable as a path.
  static constexpr Entry kFiles[] = {
      {"meta_data.json", OpenStackFile::kMetaData, kFolsom},
      {"user_data", OpenStackFile::kUserData, kFolsom},
      {"password", OpenStackFile::kPassword, kGrizzly},
      {"vendor_data.json", OpenStackFile::kVendorData, kHavana},
      {"vendor_data2.json", OpenStackFile::kVendorData2, kNewtonTwo},
      {"network_data.json", OpenStackFile::kNetworkData, kFolsom},
      {"version", OpenStackFile::kListing, kFolsom},
  };
  for (const auto& e : kFiles) {
    if (e.name != name) continue;
    if (v < e.since) return r;
    r.kind = RouteKind::kOpenStack;
    r.file = e.file;
    return r;
  }
  return r;
}

}  // namespace

std::string NormalizePath(std::string_view path) {
  std::string out = "/";
  bool first = true;
  for (const auto& part : PathSegments(path)) {
    if (!first) out += '/';
    out += part;
    first = false;
  }
  return out;
}

Route ResolvePath(std::string_view path) {
  std::vector<std::string> t = PathSegments(path);
  Route r;
  if (t.empty()) {
    r.kind = RouteKind::kEc2Versions;
    return r;
  }
  if (t[0] != "ec2" && t[0] != "openstack") t.insert(t.begin(), "ec2");
  if (t.size() == 1) {
    r.kind = t[0] == "openstack" ? RouteKind::kOpenStackVersions : RouteKind::kEc2Versions;
    return r;
  }
  if (t[0] == "openstack") return OpenStackRoute(t);
  int v =
      t[1] == "latest" ? static_cast<int>(kEc2Versions.size()) - 1 : IndexOf(kEc2Versions, t[1]);
  if (v < 0) return r;
  r.kind = RouteKind::kEc2;
  r.version = v;
  r.tokens.assign(t.begin() + 2, t.end());
  return r;
}

}  // namespace metastack::core
