#pragma once
// The file systems behind OpenDrive (drive.h), as one small interface: iso9660.h and fat.h
// implement it over an ImageSource; drive.cc walks paths through it. Internal to guest/ (its
// tests, and the guest_drive fuzz target that lists and reads every file of hostile images).
//
// Every method bounds what it reads: a directory longer than kMaxDirectoryBytes or a file
// larger than kMaxDriveFileBytes is refused, so one call allocates at most 64 MiB whatever the
// image says. Errors as drive.h states (kInvalidArgument naming the image for corruption,
// kTooLarge for a file over the limit). Thread-compatible.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "guest/drive.h"
#include "guest/image_source.h"

namespace metastack::guest {

inline constexpr uint64_t kMaxDriveFileBytes = uint64_t{64} << 20;
// FAT allows 65536 entries of 32 bytes; an ISO 9660 directory of that size holds thousands of
// names, far beyond any config drive.
inline constexpr uint64_t kMaxDirectoryBytes = uint64_t{2} << 20;
// Directory levels a walk (ListDriveFiles) descends; ISO 9660 has 8, a config drive 4.
inline constexpr int kMaxDriveDepth = 32;

struct DriveEntry {
  std::string name;  // UTF-8, as the reader decoded it; "." and ".." are never listed
  bool directory = false;
  uint64_t size = 0;          // bytes of a file (of a directory: as recorded, unused)
  uint64_t location = 0;      // where the entry's data starts: a block or a first cluster
  bool multi_extent = false;  // ISO 9660: listed, but ReadFile refuses it
};

class DriveFs {
 public:
  virtual ~DriveFs() = default;
  virtual DriveLabel Label() const = 0;
  // Whether names compare case-insensitively (VFAT, as Linux's vfat driver does).
  virtual bool CaseInsensitive() const = 0;
  virtual DriveEntry Root() const = 0;
  virtual Result<std::vector<DriveEntry>> List(const DriveEntry& directory) = 0;
  virtual Result<std::string> ReadFile(const DriveEntry& file) = 0;
  // The image, for errors.
  virtual const std::string& Name() const = 0;
};

// The file system on `source`: a null pointer when it is neither ISO 9660 nor FAT; an error when
// it looks like one but its descriptors cannot be read.
Result<std::unique_ptr<DriveFs>> OpenDriveFs(std::shared_ptr<ImageSource> source);

// The file at a '/'-separated relative `path`: kNotFound when absent (or a component is not a
// directory), kInvalidArgument for an empty, "." or ".." component.
Result<std::string> ReadDrivePath(DriveFs& fs, std::string_view path);

// Every file's path, depth first in directory order. A directory met twice (a loop) or nested
// deeper than kMaxDriveDepth is kInvalidArgument.
Result<std::vector<std::string>> ListDriveFiles(DriveFs& fs);

// Little-endian fields; the caller has checked that s[at..at+width) exists.
inline uint32_t Le16(std::string_view s, size_t at) {
  return static_cast<uint8_t>(s[at]) | uint32_t{static_cast<uint8_t>(s[at + 1])} << 8;
}
inline uint32_t Le32(std::string_view s, size_t at) { return Le16(s, at) | Le16(s, at + 2) << 16; }

// ASCII case folding, as FAT's and blkid's label comparisons do.
bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b);

}  // namespace metastack::guest
