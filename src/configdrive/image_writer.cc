#include "configdrive/image_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "configdrive/iso_writer.h"
#include "configdrive/vfat_writer.h"

namespace metastack::configdrive {
namespace {

std::unexpected<Error> OsError(const std::string& what, const std::string& path, int err) {
  return std::unexpected(MakeError(ErrorCode::kInternal, what + ": " + std::strerror(err), path));
}

// 0 or the errno of the failed write.
int WriteAll(int fd, const std::string& bytes, uint64_t offset) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

std::string Image::Flatten() const {
  std::string out(size, '\0');
  for (const auto& e : extents) out.replace(e.offset, e.bytes.size(), e.bytes);
  return out;
}

Status ImageWriter::Write(const std::vector<core::DriveFile>& files,
                          const std::string& path) const {
  METASTACK_ASSIGN_OR_RETURN(Image image, Build(files));
  return WriteImageFile(image, path);
}

Status WriteImageFile(const Image& image, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.filename().empty())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not a file name", path));
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // The temporary file lives in the target's directory so that rename() cannot cross file
  // systems, and starts with a dot so that globs over the directory skip it.
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return OsError("cannot create a temporary file in " + dir.string(), path, errno);
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return OsError(what, path, err);
  };
  // mkstemp makes 0600; an image is read by the hypervisor's user (libvirt-qemu), not only us.
  if (::fchmod(fd, 0644) != 0) return fail("cannot set the mode of " + tmp, errno);
  if (::ftruncate(fd, static_cast<off_t>(image.size)) != 0)
    return fail("cannot size " + tmp, errno);
  for (const auto& e : image.extents) {
    if (int err = WriteAll(fd, e.bytes, e.offset)) return fail("cannot write " + tmp, err);
  }
  if (::fsync(fd) != 0) return fail("cannot sync " + tmp, errno);
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return OsError("cannot close " + tmp, path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return OsError("cannot rename the image into place", path, err);
  }
  // The rename is durable only once the directory is.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok();
}

Result<std::unique_ptr<ImageWriter>> NewImageWriter(std::string_view format,
                                                    const ImageOptions& options,
                                                    uint64_t size_bytes) {
  if (format == "iso") return std::unique_ptr<ImageWriter>(new IsoWriter(options));
  if (format == "vfat") {
    VfatOptions v;
    v.image = options;
    v.size_bytes = size_bytes;
    METASTACK_ASSIGN_OR_RETURN(auto writer, VfatWriter::Create(v));
    return std::unique_ptr<ImageWriter>(std::move(writer));
  }
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument,
                "unknown image format (expected iso or vfat): " + std::string(format)));
}

}  // namespace metastack::configdrive
