#include "configdrive/disk_image.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "configdrive/disk_container.h"

namespace metastack::configdrive {
namespace {

struct FormatNames {
  DiskFormat format;
  std::string_view name;
  std::string_view qemu;
};

constexpr FormatNames kFormats[] = {
    {DiskFormat::kRaw, "raw", "raw"},    {DiskFormat::kQcow2, "qcow2", "qcow2"},
    {DiskFormat::kVhd, "vhd", "vpc"},    {DiskFormat::kVhdx, "vhdx", "vhdx"},
    {DiskFormat::kVmdk, "vmdk", "vmdk"},
};

const FormatNames& NamesOf(DiskFormat format) {
  for (const auto& f : kFormats)
    if (f.format == format) return f;
  return kFormats[0];
}

}  // namespace

std::string_view DiskFormatName(DiskFormat format) { return NamesOf(format).name; }
std::string_view QemuFormatName(DiskFormat format) { return NamesOf(format).qemu; }

std::optional<DiskFormat> ParseDiskFormat(std::string_view name) {
  for (const auto& f : kFormats)
    if (f.name == name) return f.format;
  return std::nullopt;
}

std::optional<DiskFormat> DiskFormatForPath(std::string_view path) {
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return std::nullopt;
  std::string ext(path.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == "raw") return std::nullopt;
  return ParseDiskFormat(ext);
}

Result<Image> WrapDisk(const Image& raw, DiskFormat format, const DiskOptions& options) {
  switch (format) {
    case DiskFormat::kRaw:
      return raw;
    case DiskFormat::kQcow2:
      return disk::WrapQcow2(raw);
    case DiskFormat::kVhd:
      return disk::WrapVhd(raw, options);
    case DiskFormat::kVhdx:
      return disk::WrapVhdx(raw);
    case DiskFormat::kVmdk:
      return disk::WrapVmdk(raw);
  }
  return std::unexpected(MakeError(ErrorCode::kInternal, "unknown disk format"));
}

}  // namespace metastack::configdrive
