#include "configdrive/tree_writer.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>

namespace metastack::configdrive {
namespace fs = std::filesystem;
namespace {

std::unexpected<Error> IoError(const std::string& what, const std::error_code& ec) {
  return std::unexpected(MakeError(ErrorCode::kInternal, what + ": " + ec.message()));
}

Status CheckRelative(const std::string& path) {
  auto bad = [&](std::string why) {
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, why, path));
  };
  if (path.empty()) return bad("empty path");
  if (path.find('\0') != std::string::npos) return bad("contains a NUL byte");
  if (path.front() == '/') return bad("absolute path in a drive tree");
  for (const auto& part : fs::path(path))
    if (part == ".." || part == ".") return bad("'.' or '..' in a drive tree path");
  return Ok();
}

}  // namespace

Status WriteTree(const std::vector<core::DriveFile>& files, const std::string& dir) {
  for (const auto& f : files) METASTACK_RETURN_IF_ERROR(CheckRelative(f.path));
  std::error_code ec;
  fs::path target(dir);
  bool existed = fs::exists(target, ec);
  if (existed && (!fs::is_directory(target, ec) || !fs::is_empty(target, ec)))
    return std::unexpected(
        MakeError(ErrorCode::kConflict, "exists and is not an empty directory", dir));
  fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (target.filename().empty()) parent = target.parent_path().parent_path();
  std::random_device rd;
  fs::path tmp = parent / (".metastack-tree-" + std::to_string(rd()));
  if (!fs::create_directories(tmp, ec)) return IoError("cannot create " + tmp.string(), ec);
  auto cleanup = [&] { fs::remove_all(tmp, ec); };
  for (const auto& f : files) {
    fs::path p = tmp / f.path;
    fs::create_directories(p.parent_path(), ec);
    if (ec) {
      cleanup();
      return IoError("cannot create " + p.parent_path().string(), ec);
    }
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(f.contents.data(), static_cast<std::streamsize>(f.contents.size()));
    out.close();
    if (!out) {
      cleanup();
      return std::unexpected(MakeError(ErrorCode::kInternal, "cannot write " + p.string()));
    }
  }
  fs::permissions(tmp,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  if (existed) fs::remove(target, ec);
  fs::rename(tmp, target, ec);
  if (ec) {
    cleanup();
    return IoError("cannot move the tree into " + dir, ec);
  }
  return Ok();
}

}  // namespace metastack::configdrive
