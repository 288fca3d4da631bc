#include "configdrive/drive_build.h"

#include <utility>
#include <vector>

#include "base/file.h"
#include "configdrive/nocloud.h"
#include "configdrive/reproducible.h"

namespace metastack::configdrive {
namespace {

constexpr std::pair<DriveLayout, std::string_view> kLayouts[] = {
    {DriveLayout::kIso, "iso"},
    {DriveLayout::kVfat, "vfat"},
    {DriveLayout::kNoCloud, "nocloud"},
    {DriveLayout::kNoCloudVfat, "nocloud-vfat"},
};

Result<core::RandomBytes> RandomFor(const DriveSpec& spec, const core::Instance& instance) {
  if (spec.seed) return SeededRandom(*spec.seed, instance.uuid);
  METASTACK_ASSIGN_OR_RETURN(std::optional<int64_t> epoch, SourceDateEpoch());
  if (epoch) return SeededRandom(std::to_string(*epoch), instance.uuid);
  return core::RandomBytes([](std::span<uint8_t> out) { SystemRandom(out); });
}

}  // namespace

std::string_view DriveLayoutName(DriveLayout layout) {
  for (const auto& [l, name] : kLayouts)
    if (l == layout) return name;
  return "iso";
}

std::optional<DriveLayout> ParseDriveLayout(std::string_view name) {
  for (const auto& [l, n] : kLayouts)
    if (n == name) return l;
  return std::nullopt;
}

bool IsVfat(DriveLayout layout) {
  return layout == DriveLayout::kVfat || layout == DriveLayout::kNoCloudVfat;
}

bool IsNoCloud(DriveLayout layout) {
  return layout == DriveLayout::kNoCloud || layout == DriveLayout::kNoCloudVfat;
}

Result<BuiltDrive> BuildDrive(const core::Instance& instance, const core::Settings& settings,
                              const DriveSpec& spec) {
  METASTACK_ASSIGN_OR_RETURN(int64_t timestamp, BuildTime(instance.created_at));
  ImageOptions options;
  options.timestamp = timestamp;
  std::vector<core::DriveFile> files;
  if (IsNoCloud(spec.layout)) {
    METASTACK_ASSIGN_OR_RETURN(files, NoCloudFiles(instance, settings));
    options.label = std::string(kNoCloudLabel);
  } else {
    METASTACK_ASSIGN_OR_RETURN(core::RandomBytes random, RandomFor(spec, instance));
    files = core::ConfigDriveFiles(instance, settings, random);
  }
  METASTACK_ASSIGN_OR_RETURN(
      auto writer, NewImageWriter(IsVfat(spec.layout) ? "vfat" : "iso", options, spec.vfat_size));
  BuiltDrive out;
  METASTACK_ASSIGN_OR_RETURN(out.image, writer->Build(files));
  if (spec.disk != DiskFormat::kRaw) {
    METASTACK_ASSIGN_OR_RETURN(out.image, WrapDisk(out.image, spec.disk, {timestamp}));
  }
  out.file_system = std::string(writer->FormatName());
  out.label = options.label;
  out.files = files.size();
  return out;
}

}  // namespace metastack::configdrive
