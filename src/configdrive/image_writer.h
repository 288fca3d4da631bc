#pragma once
// ImageWriter: turns a config drive's file set (core::DriveFile: relative path + bytes, as
// core::ConfigDriveFiles or NoCloudFiles make it) into a disk image: ISO9660 with Rock Ridge and
// Joliet (iso_writer.h, through libisofs) or VFAT (vfat_writer.h, our own code). No external
// program, no mount, no root.
//
// Contract shared by every writer:
//  - Reproducible: the output depends only on the files and the writer's options (the
//    timestamp comes from ImageOptions, never from the clock; see reproducible.h). Input order
//    does not matter: directories are laid out sorted by name (bytewise).
//  - Hostile input is refused before anything is written (drive_tree.h lists the checks): the
//    error is kInvalidArgument with the offending path as Error::field, or kTooLarge when the
//    files do not fit.
//  - Write() is atomic: the image is written to a temporary file in the target's directory,
//    fsync'd and renamed over the target; on any failure the temporary file is removed and the
//    target is untouched.
//
// Ownership: writers own only their options; Build() returns an Image the caller owns.
// Thread-safety: writers are immutable after construction; Build() and Write() may run
// concurrently on one writer (the ISO writer serialises its libisofs calls internally).
// Blocking (CPU and disk): call from a worker thread, never from an io_context.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "core/metadata.h"

namespace metastack::configdrive {

inline constexpr std::string_view kConfigDriveLabel = "config-2";
inline constexpr std::string_view kNoCloudLabel = "cidata";

// What an image carries besides its files.
struct ImageOptions {
  std::string label = std::string(kConfigDriveLabel);  // volume id / volume label
  // Stamped on every file, directory and volume field: seconds since the Unix epoch, UTC.
  // Use BuildTime() (reproducible.h); the default is FAT's epoch, 1980-01-01T00:00:00Z.
  int64_t timestamp = 315532800;
};

// An image as byte ranges over a background of zeros. A 64 MiB VFAT image of a few hundred
// kilobytes of files is mostly zeros; WriteImageFile leaves those as holes (sparse file).
struct Image {
  struct Extent {
    uint64_t offset = 0;
    std::string bytes;
  };
  uint64_t size = 0;
  std::vector<Extent> extents;  // ascending, non-overlapping, inside [0, size)

  // The whole image in memory (tests and small images).
  std::string Flatten() const;
};

class ImageWriter {
 public:
  virtual ~ImageWriter() = default;

  // "iso9660" or "vfat": what blkid reports as TYPE.
  virtual std::string_view FormatName() const = 0;

  // Lays the files out in memory. Errors as described at the top of this file; kInternal for a
  // library failure (the library's message is kept).
  virtual Result<Image> Build(const std::vector<core::DriveFile>& files) const = 0;

  // Build() then WriteImageFile(). An existing file at `path` is replaced.
  Status Write(const std::vector<core::DriveFile>& files, const std::string& path) const;
};

// Writes `image` to `path` atomically (temporary file beside it, fsync, rename, fsync of the
// directory). Errors: kInternal with the OS reason and the path as field.
Status WriteImageFile(const Image& image, const std::string& path);

// The writers behind the CLI's --format, by name: "iso" (ISO9660 + Rock Ridge + Joliet) or
// "vfat" (size_bytes applies to vfat only). kInvalidArgument for another name or a bad size.
Result<std::unique_ptr<ImageWriter>> NewImageWriter(std::string_view format,
                                                    const ImageOptions& options,
                                                    uint64_t size_bytes);

}  // namespace metastack::configdrive
