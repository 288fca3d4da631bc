#pragma once
// VfatWriter: FAT12/16/32 images with VFAT long names, written by our own code (Nova runs
// mkfs.vfat and mounts the image as root to copy the files in; we need neither).
//
// Layout: 512-byte sectors, two FATs, media 0xF8, no partition table (a "superfloppy", as
// mkfs.vfat makes it). The FAT type follows from the cluster count, as every reader decides it:
// fewer than 4085 clusters is FAT12, fewer than 65525 FAT16, else FAT32. The writer picks the
// cluster size from Microsoft's table for the image size (64 MiB, Nova's size: FAT16 with 2 KiB
// clusters) and moves to the next size when a boundary would be crossed. FAT12/16 have a fixed
// 512-entry root directory; FAT32 has 32 reserved sectors, FSInfo at sector 1 and a backup boot
// sector at 6.
//
// Contents: the label (default "config-2", kept in lower case as mkfs.vfat -n keeps it) is in
// both the boot sector and a volume-label entry of the root directory, which is where blkid
// reads it. Directories hold "." and ".." and are sorted by name; every name that is not exactly
// an 8.3 upper-case name gets LFN entries (vfat_names.h). Files and directories are allocated
// contiguously, depth first, in directory order. Every time field is ImageOptions::timestamp
// (UTC, clamped to FAT's 1980..2107, 2-second resolution; readers show it in their timezone).
//
// Volume serial number: FAT's only "random" field. Ours is derived from the content: the
// first four bytes (little-endian) of SHA-256 over "metastack vfat serial v1", the label, the
// timestamp and size (big-endian 64-bit), then for each file in tree order its path, a NUL,
// its length (big-endian 64-bit) and its bytes. Same drive, same serial; different drives
// almost surely differ.
//
// Errors: hostile paths and names as drive_tree.h lists (VFAT limit: 255 characters a name), and
//   "two names differ only in case (FAT cannot tell them apart)"          kInvalidArgument
//   "too many names in the root directory (FATnn holds 512 entries)"     kTooLarge
//   "the files need N clusters of B bytes but a S MiB FATnn image has M free"  kTooLarge
//
// Thread-safety: immutable after Create(); Build() is reentrant. Ownership: see image_writer.h.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "configdrive/drive_tree.h"
#include "configdrive/image_writer.h"

namespace metastack::configdrive {

inline constexpr uint64_t kDefaultVfatBytes = uint64_t{64} << 20;  // Nova's size
inline constexpr uint64_t kMinVfatBytes = uint64_t{1} << 20;
inline constexpr uint64_t kMaxVfatBytes = uint64_t{32} << 30;
inline constexpr NameLimits kVfatNameLimits{"VFAT", 255, "", 0};

struct VfatOptions {
  ImageOptions image;
  uint64_t size_bytes = kDefaultVfatBytes;  // a multiple of 512, kMinVfatBytes..kMaxVfatBytes
};

// Where everything is, in 512-byte sectors.
struct FatGeometry {
  int fat_bits = 16;  // 12, 16 or 32
  uint32_t total_sectors = 0;
  uint32_t sectors_per_cluster = 0;
  uint32_t reserved_sectors = 0;
  uint32_t fat_sectors = 0;    // per FAT; there are two
  uint32_t root_entries = 0;   // fixed root directory entries (0 on FAT32)
  uint32_t cluster_count = 0;  // data clusters, numbered 2 .. cluster_count + 1

  uint32_t RootDirSectors() const { return root_entries * 32 / 512; }
  uint32_t DataStartSector() const { return reserved_sectors + 2 * fat_sectors + RootDirSectors(); }
  uint32_t ClusterBytes() const { return sectors_per_cluster * 512; }
};

// The geometry for an image of `size_bytes`. kInvalidArgument for a size out of range or not a
// multiple of 512.
Result<FatGeometry> ChooseFatGeometry(uint64_t size_bytes);

class VfatWriter final : public ImageWriter {
 public:
  // kInvalidArgument for a bad size, or a label that is empty, longer than 11 bytes or holds a
  // character FAT labels cannot ("*+,./:;<=>?[\]| or non-ASCII).
  static Result<std::unique_ptr<VfatWriter>> Create(VfatOptions options);

  std::string_view FormatName() const override { return "vfat"; }
  Result<Image> Build(const std::vector<core::DriveFile>& files) const override;

  const FatGeometry& geometry() const { return geometry_; }

 private:
  VfatWriter(VfatOptions options, FatGeometry geometry);

  VfatOptions options_;
  FatGeometry geometry_;
};

}  // namespace metastack::configdrive
