#pragma once
// What the disk containers (disk_image.h) share: reading the raw drive by offset, finding the
// allocation units that hold data, identifiers derived from the drive's content, and assembling
// the container as an Image. One .cc per format implements a Wrap* function below; disk_image.cc
// dispatches to them. Internal to configdrive. Pure; thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "configdrive/disk_image.h"
#include "configdrive/image_writer.h"

namespace metastack::configdrive::disk {

inline constexpr uint64_t kSector = 512;
inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = kKiB * 1024;
inline constexpr uint64_t kGiB = kMiB * 1024;
inline constexpr uint64_t kTiB = kGiB * 1024;

// Reads a raw Image (extents over zeros) by offset; ranges past the end read as zeros. Keeps a
// reference to the image.
class RawReader {
 public:
  explicit RawReader(const Image& raw) : raw_(raw) {}
  void Read(uint64_t offset, uint64_t length, char* out) const;
  std::string Bytes(uint64_t offset, uint64_t length) const;

 private:
  const Image& raw_;
};

// The indices (offset / unit) of the `unit`-sized pieces of `raw` that hold a byte other than
// zero, ascending. A unit wholly of zeros is not listed, even inside an extent.
std::vector<uint64_t> UsedUnits(const Image& raw, uint64_t unit);

// SHA-256 of the virtual disk's content (its size and every non-zero sector with its number):
// the same for two Images with the same bytes, however their extents are cut.
using Digest = std::array<uint8_t, 32>;
Digest ContentDigest(const Image& raw);

// 16 bytes for the identifier named `purpose`, derived from `digest`, shaped as an RFC 9562
// version 8 (custom) UUID in big-endian field order.
std::array<uint8_t, 16> DerivedUuid(const Digest& digest, std::string_view purpose);

// Pieces of the container file written at offsets; Finish() turns them into an Image of
// `size` bytes: pieces sorted, adjacent ones merged, and every 4 KiB page of the file that a
// piece leaves all zero dropped (a hole in the sparse file). Pieces must not overlap.
class ContainerBuilder {
 public:
  void Put(uint64_t offset, std::string bytes);
  Image Finish(uint64_t size) &&;

 private:
  std::vector<Image::Extent> pieces_;
};

// kInvalidArgument unless the drive is a whole, non-zero number of 512-byte sectors (every
// format here counts in sectors; ISO9660 and VFAT images always are).
Status CheckSectors(const Image& raw, DiskFormat format);
// kTooLarge "<format>: the drive is N bytes; <what holds at most>".
Error TooLarge(DiskFormat format, uint64_t size, std::string_view limit);

// A VHD's CHS geometry for `sectors` (vhd_disk.cc). QEMU takes the disk's size from it (block/
// vpc.c), so it must multiply out to exactly `sectors`: the VHD specification's algorithm when
// its product is exact, else the first exact cylinders * heads * sectors-per-track (heads <= 16,
// sectors <= 255, cylinders <= 65535), trying sectors-per-track from 255 down and heads from
// 16 down; when none is exact, the smallest product above `sectors` (the disk grows to it).
// Past 65535 * 16 * 255 sectors: that maximum, which QEMU reads as "use the footer's size".
struct VhdGeometry {
  uint32_t cylinders = 0;
  uint32_t heads = 0;
  uint32_t sectors_per_track = 0;
  uint64_t Sectors() const { return uint64_t{cylinders} * heads * sectors_per_track; }
};
VhdGeometry VhdGeometryFor(uint64_t sectors);
inline constexpr uint64_t kVhdMaxGeometrySectors = uint64_t{65535} * 16 * 255;

// CRC-32C (Castagnoli), VHDX's checksum (vhdx_disk.cc).
uint32_t Crc32c(std::string_view data);

Result<Image> WrapQcow2(const Image& raw);
Result<Image> WrapVhd(const Image& raw, const DiskOptions& options);
Result<Image> WrapVhdx(const Image& raw);
Result<Image> WrapVmdk(const Image& raw);

}  // namespace metastack::configdrive::disk
