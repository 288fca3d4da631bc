#pragma once
// What configdrive's writers built, read back by the guest's readers (guest/fat.h, the project's
// one FAT reader): an Image (extents over zeros, read in place: a 600 MiB FAT32 image is mostly
// holes) as a guest::ImageSource. For the writers' tests and the vfat_writer fuzz target.

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "configdrive/image_writer.h"
#include "guest/fat.h"
#include "guest/image_source.h"

namespace metastack::configdrive::testing {

// `length` bytes of `image` at `offset`.
inline void ReadImage(const Image& image, uint64_t offset, uint64_t length, char* out) {
  std::memset(out, 0, length);
  for (const auto& e : image.extents) {
    uint64_t lo = std::max(offset, e.offset);
    uint64_t hi = std::min(offset + length, e.offset + e.bytes.size());
    if (lo < hi) std::memcpy(out + (lo - offset), e.bytes.data() + (lo - e.offset), hi - lo);
  }
}

inline std::string ImageBytes(const Image& image, uint64_t offset, uint64_t length) {
  std::string out(length, '\0');
  ReadImage(image, offset, length, out.data());
  return out;
}

inline std::shared_ptr<guest::ImageSource> ImageSource(Image image) {
  auto shared = std::make_shared<const Image>(std::move(image));
  return guest::FunctionImage("image", shared->size,
                              [shared](uint64_t offset, uint64_t length, char* out) {
                                ReadImage(*shared, offset, length, out);
                              });
}

// The FAT volume in `image`; an error when it is not one or its boot sector is inconsistent.
inline Result<std::unique_ptr<guest::FatVolume>> OpenFat(Image image) {
  auto fat = guest::FatVolume::Open(ImageSource(std::move(image)));
  if (fat && !*fat) return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not FAT"));
  return fat;
}

}  // namespace metastack::configdrive::testing
