#pragma once
// The bytes of a drive image, read at offsets: a block device or image file (pread(2)), or bytes
// in memory (tests, and configdrive's tests reading back what the writers built). The readers of
// iso9660.h and fat.h see nothing else of the drive.
//
// ReadAt gives exactly the bytes asked for or an error: a range past Size() is kInvalidArgument
// "image truncated: ..." (a corrupt or cut-short image), a failed read kUnavailable with the OS's
// reason. Either names the image (Name()) as Error::field. Thread-compatible.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"

namespace metastack::guest {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  // The device or file, or the name given: for errors.
  virtual const std::string& Name() const = 0;
  virtual uint64_t Size() const = 0;
  virtual Result<std::string> ReadAt(uint64_t offset, uint64_t length) = 0;

  // kInvalidArgument naming this image: "<name>: <what>".
  Error Corrupt(std::string what) const;
};

// `path` opened read-only (O_NONBLOCK, so that an empty CD drive opens and then fails to read
// rather than blocking); its size is where lseek(SEEK_END) lands, which is right for block
// devices too. kNotFound when there is no such file, kUnavailable for other failures.
Result<std::unique_ptr<ImageSource>> OpenImageFile(const std::string& path);

// Reads `length` bytes at `offset` into `out` (sized by the caller); the range is inside `size`.
using ReadFunction = std::function<void(uint64_t offset, uint64_t length, char* out)>;

// An image of `size` bytes that `read` produces (kept for the source's lifetime).
std::unique_ptr<ImageSource> FunctionImage(std::string name, uint64_t size, ReadFunction read);

// The image is `bytes`.
std::unique_ptr<ImageSource> MemoryImage(std::string name, std::string bytes);

}  // namespace metastack::guest
