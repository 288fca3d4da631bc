#pragma once
// One instance's drive, start to finish: the file set (config drive or NoCloud seed), the file
// system (ISO9660 or VFAT), the disk container (disk_image.h). What `metastack configdrive
// build` writes and what `serve` keeps current (docs/configdrive.md); both call BuildDrive, so
// a drive is the same bytes whichever made it.
//
// Reads SOURCE_DATE_EPOCH (reproducible.h) and, without a build seed, the OS's random
// generator; otherwise pure. Thread-safe. Blocking (CPU): not on an io_context.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "configdrive/disk_image.h"
#include "configdrive/image_writer.h"
#include "core/instance.h"
#include "core/metadata.h"

namespace metastack::configdrive {

// The file system and label: "iso" (ISO9660, config-2; Nova's default), "vfat" (config-2),
// "nocloud" (ISO9660, cidata), "nocloud-vfat" (VFAT, cidata).
enum class DriveLayout { kIso, kVfat, kNoCloud, kNoCloudVfat };
std::string_view DriveLayoutName(DriveLayout layout);
std::optional<DriveLayout> ParseDriveLayout(std::string_view name);

inline constexpr uint64_t kDefaultVfatSize = uint64_t{64} << 20;  // Nova's

struct DriveSpec {
  DriveLayout layout = DriveLayout::kIso;
  DiskFormat disk = DiskFormat::kRaw;
  uint64_t vfat_size = kDefaultVfatSize;  // VFAT layouts only
  // random_seed's build seed (reproducible.h); nullopt: SOURCE_DATE_EPOCH's text if set, else
  // the OS's random generator (the drive is then reproducible in everything but random_seed).
  std::optional<std::string> seed;
};

bool IsVfat(DriveLayout layout);
bool IsNoCloud(DriveLayout layout);

struct BuiltDrive {
  Image image;
  std::string file_system;  // "iso9660" or "vfat" (blkid's TYPE)
  std::string label;        // "config-2" or "cidata"
  size_t files = 0;
};

// Errors: the instance's created_at or SOURCE_DATE_EPOCH malformed, the NoCloud conversion or
// the image writer refusing the files (image_writer.h), the disk container (disk_image.h).
Result<BuiltDrive> BuildDrive(const core::Instance& instance, const core::Settings& settings,
                              const DriveSpec& spec);

}  // namespace metastack::configdrive
