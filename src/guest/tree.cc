#include "guest/tree.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace metastack::guest {
namespace {

class Directory final : public Tree {
 public:
  explicit Directory(std::string root) : root_(std::move(root)) {}

  Result<std::string> Read(std::string_view path) override {
    METASTACK_RETURN_IF_ERROR(CheckTreePath(path));
    std::string full = root_ + "/" + std::string(path);
    int fd = open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      int err = errno;
      return std::unexpected(MakeError(
          err == ENOENT || err == ENOTDIR ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
          full + ": " + std::strerror(err)));
    }
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return std::unexpected(
            MakeError(ErrorCode::kUnavailable, full + ": " + std::strerror(err)));
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
  }

  std::string Describe() const override { return "directory " + root_; }

 private:
  std::string root_;
};

}  // namespace

Status CheckTreePath(std::string_view path) {
  for (size_t at = 0; at <= path.size();) {
    size_t end = path.find('/', at);
    if (end == std::string_view::npos) end = path.size();
    std::string_view name = path.substr(at, end - at);
    if (name.empty() || name == "." || name == "..")
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not a relative path in a tree",
                                       std::string(path)));
    at = end + 1;
  }
  return Ok();
}

std::unique_ptr<Tree> DirectoryTree(std::string root) {
  return std::make_unique<Directory>(std::move(root));
}

}  // namespace metastack::guest
