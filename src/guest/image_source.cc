#include "guest/image_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace metastack::guest {
namespace image_source_internal {
namespace {

// The one place that checks a range against the image's size.
Status CheckRange(const ImageSource& source, uint64_t offset, uint64_t length) {
  if (offset > source.Size() || length > source.Size() - offset)
    return std::unexpected(source.Corrupt("image truncated: bytes " + std::to_string(offset) +
                                          ".." + std::to_string(offset + length) + " of " +
                                          std::to_string(source.Size())));
  return Ok();
}

class FileImage final : public ImageSource {
 public:
  FileImage(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~FileImage() override { close(fd_); }
  FileImage(const FileImage&) = delete;
  FileImage& operator=(const FileImage&) = delete;

  const std::string& Name() const override { return path_; }
  uint64_t Size() const override { return size_; }

  Result<std::string> ReadAt(uint64_t offset, uint64_t length) override {
    METASTACK_RETURN_IF_ERROR(CheckRange(*this, offset, length));
    std::string out(length, '\0');
    for (uint64_t done = 0; done < length;) {
      ssize_t n = pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::string why = n < 0 ? std::strerror(errno) : "unexpected end of file";
        return std::unexpected(MakeError(ErrorCode::kUnavailable,
                                         "reading at " + std::to_string(offset + done) + ": " + why,
                                         path_));
      }
      done += static_cast<uint64_t>(n);
    }
    return out;
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class Function final : public ImageSource {
 public:
  Function(std::string name, uint64_t size, ReadFunction read)
      : name_(std::move(name)), size_(size), read_(std::move(read)) {}

  const std::string& Name() const override { return name_; }
  uint64_t Size() const override { return size_; }

  Result<std::string> ReadAt(uint64_t offset, uint64_t length) override {
    METASTACK_RETURN_IF_ERROR(CheckRange(*this, offset, length));
    std::string out(length, '\0');
    read_(offset, length, out.data());
    return out;
  }

 private:
  std::string name_;
  uint64_t size_;
  ReadFunction read_;
};

}  // namespace
}  // namespace image_source_internal

Error ImageSource::Corrupt(std::string what) const {
  return MakeError(ErrorCode::kInvalidArgument, std::move(what), Name());
}

Result<std::unique_ptr<ImageSource>> OpenImageFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    return std::unexpected(MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                                     std::strerror(err), path));
  }
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0) {
    int err = errno;
    close(fd);
    return std::unexpected(MakeError(ErrorCode::kUnavailable, std::strerror(err), path));
  }
  return std::make_unique<image_source_internal::FileImage>(path, fd, static_cast<uint64_t>(end));
}

std::unique_ptr<ImageSource> FunctionImage(std::string name, uint64_t size, ReadFunction read) {
  return std::make_unique<image_source_internal::Function>(std::move(name), size, std::move(read));
}

std::unique_ptr<ImageSource> MemoryImage(std::string name, std::string bytes) {
  auto shared = std::make_shared<const std::string>(std::move(bytes));
  uint64_t size = shared->size();
  return FunctionImage(std::move(name), size,
                       [shared](uint64_t offset, uint64_t length, char* out) {
                         std::memcpy(out, shared->data() + offset, length);
                       });
}

}  // namespace metastack::guest
