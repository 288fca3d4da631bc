#include "core/metadata.h"

#include "core/render_parts.h"

namespace metastack::core {
namespace {

using internal::Content;

std::unexpected<Error> NotFound() {
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such metadata path"));
}

Document Text(std::string body) { return Document{std::string(kContentTypeText), std::move(body)}; }
Document JsonDoc(std::string body) {
  return Document{std::string(kContentTypeJson), std::move(body)};
}

Result<Document> RenderOpenStack(const Instance& instance, const Route& route,
                                 const Settings& settings, const RenderContext& ctx) {
  int v = route.version;
  switch (route.file) {
    case OpenStackFile::kListing:
      return Text(internal::OpenStackListing(instance, v));
    case OpenStackFile::kMetaData:
      return JsonDoc(internal::MetaDataJson(instance, v, settings, ctx,
                                            internal::BuildContent(instance, ctx.delivery)));
    case OpenStackFile::kUserData:
      if (!instance.user_data) return NotFound();
      return Text(*instance.user_data);
    case OpenStackFile::kPassword:
      return Document{std::string(kContentTypeHtml), instance.password.value_or("")};
    case OpenStackFile::kVendorData:
      return JsonDoc(internal::VendorDataJson(instance, settings));
    case OpenStackFile::kVendorData2:
      return JsonDoc(internal::VendorData2Json(instance, settings, ctx.dynamic_vendor_data));
    case OpenStackFile::kNetworkData:
      return Text(internal::NetworkDataJson(instance));
  }
  return NotFound();
}

}  // namespace

std::string OpenStackVersionListing(const Settings& settings) {
  std::string out;
  for (auto v : kOpenStackVersions) {
    if (v > settings.today) continue;
    out += v;
    out += '\n';
  }
  return out + "latest";
}

std::string Ec2VersionListing() {
  std::string out;
  for (auto v : kEc2Versions) {
    out += v;
    out += '\n';
  }
  return out + "latest";
}

Result<Document> Render(const Instance& instance, const Route& route, const Settings& settings,
                        const RenderContext& ctx) {
  switch (route.kind) {
    case RouteKind::kEc2Versions:
      return Text(Ec2VersionListing());
    case RouteKind::kOpenStackVersions:
      return Text(OpenStackVersionListing(settings));
    case RouteKind::kOpenStack:
      return RenderOpenStack(instance, route, settings, ctx);
    case RouteKind::kContent: {
      Content content = internal::BuildContent(instance, ctx.delivery);
      auto it = content.files.find(route.tokens.at(0));
      if (it == content.files.end()) return NotFound();
      return Text(it->second);
    }
    case RouteKind::kEc2:
      return internal::RenderEc2(instance, route, settings, ctx);
    case RouteKind::kNotFound:
      return NotFound();
  }
  return NotFound();
}

Result<Document> Lookup(const Instance& instance, std::string_view path, const Settings& settings,
                        const RenderContext& ctx) {
  return Render(instance, ResolvePath(path), settings, ctx);
}

std::vector<DriveFile> ConfigDriveFiles(const Instance& instance, const Settings& settings,
                                        const RandomBytes& random) {
  RenderContext ctx{Delivery::kConfigDrive, std::nullopt, random};
  std::vector<DriveFile> files;
  // EC2: Nova skips every version but the newest (config_drive_skip_versions).
  const int ec2_newest = static_cast<int>(kEc2Versions.size()) - 1;
  for (std::string version : {std::string(kEc2Versions[ec2_newest]), std::string("latest")}) {
    if (instance.user_data) files.push_back({"ec2/" + version + "/user-data", *instance.user_data});
    files.push_back({"ec2/" + version + "/meta-data.json",
                     DumpPython(Ec2MetaData(instance, ec2_newest, settings, ctx))});
  }
  Content content = internal::BuildContent(instance, Delivery::kConfigDrive);
  const int os_count = static_cast<int>(kOpenStackVersions.size());
  for (int i = 0; i <= os_count; ++i) {
    bool latest = i == os_count;
    int v = latest ? os_count - 1 : i;
    std::string dir = "openstack/" + std::string(latest ? "latest" : kOpenStackVersions[i]) + "/";
    files.push_back(
        {dir + "meta_data.json", internal::MetaDataJson(instance, v, settings, ctx, content)});
    if (instance.user_data) files.push_back({dir + "user_data", *instance.user_data});
    if (v >= kHavana)
      files.push_back({dir + "vendor_data.json", internal::VendorDataJson(instance, settings)});
    if (v >= kLiberty)
      files.push_back({dir + "network_data.json", internal::NetworkDataJson(instance)});
    if (v >= kNewtonTwo)
      files.push_back(
          {dir + "vendor_data2.json", internal::VendorData2Json(instance, settings, nullptr)});
  }
  for (const auto& [key, contents] : content.files)
    files.push_back({"openstack/content/" + key, contents});
  return files;
}

}  // namespace metastack::core
