#include "guest/tree.h"

#include "base/file.h"

namespace metastack::guest {
namespace {

class Directory final : public Tree {
 public:
  explicit Directory(std::string root) : root_(std::move(root)) {}

  Result<std::string> Read(std::string_view path) override {
    METASTACK_RETURN_IF_ERROR(CheckTreePath(path));
    std::string full = root_ + "/" + std::string(path);
    auto got = ReadFile(full, /*follow_last_link=*/false);
    if (!got && got.error().code != ErrorCode::kNotFound)
      return std::unexpected(MakeError(ErrorCode::kUnavailable, got.error().ToString()));
    return got;
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
