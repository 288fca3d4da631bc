#include "guest/drive.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "guest/drive_fs.h"
#include "guest/fat.h"
#include "guest/iso9660.h"

namespace metastack::guest {
namespace drive_internal {
namespace {

std::string_view FormatName(DriveFormat format) {
  return format == DriveFormat::kIso9660 ? "iso9660" : "vfat";
}

class DriveTree final : public Tree {
 public:
  explicit DriveTree(std::unique_ptr<DriveFs> fs) : fs_(std::move(fs)) {}

  Result<std::string> Read(std::string_view path) override { return ReadDrivePath(*fs_, path); }

  std::string Describe() const override {
    DriveLabel label = fs_->Label();
    return "config drive " + fs_->Name() + " (" + std::string(FormatName(label.format)) + ", " +
           label.label + ")";
  }

 private:
  std::unique_ptr<DriveFs> fs_;
};

std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> out;
  for (size_t at = 0; at <= path.size();) {
    size_t end = std::min(path.find('/', at), path.size());
    out.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

struct Walker {
  DriveFs& fs;
  std::set<uint64_t> seen;
  std::vector<std::string> files;

  Status Walk(const DriveEntry& dir, const std::string& prefix, int depth) {
    if (depth > kMaxDriveDepth)
      return std::unexpected(MakeError(
          ErrorCode::kInvalidArgument,
          prefix + ": directories nested deeper than " + std::to_string(kMaxDriveDepth) + " levels",
          fs.Name()));
    if (!seen.insert(dir.location).second)
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument,
                    (prefix.empty() ? "/" : prefix) + ": directory loop (its data is listed twice)",
                    fs.Name()));
    METASTACK_ASSIGN_OR_RETURN(auto entries, fs.List(dir));
    for (const DriveEntry& e : entries) {
      if (e.directory) {
        METASTACK_RETURN_IF_ERROR(Walk(e, prefix + e.name + "/", depth + 1));
      } else {
        files.push_back(prefix + e.name);
      }
    }
    return Ok();
  }
};

}  // namespace
}  // namespace drive_internal

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

Result<std::unique_ptr<DriveFs>> OpenDriveFs(std::shared_ptr<ImageSource> source) {
  METASTACK_ASSIGN_OR_RETURN(std::unique_ptr<DriveFs> iso, OpenIso9660(source));
  if (iso) return iso;
  METASTACK_ASSIGN_OR_RETURN(std::unique_ptr<FatVolume> fat, FatVolume::Open(source));
  return std::unique_ptr<DriveFs>(std::move(fat));
}

Result<std::string> ReadDrivePath(DriveFs& fs, std::string_view path) {
  auto parts = drive_internal::Components(path);
  for (std::string_view name : parts)
    if (name.empty() || name == "." || name == "..")
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not a relative path in a tree",
                                       std::string(path)));
  auto fail = [&](ErrorCode code, std::string what) {
    return std::unexpected(MakeError(code, std::string(path) + ": " + what, fs.Name()));
  };
  if (parts.size() > kMaxDriveDepth + 1) return fail(ErrorCode::kNotFound, "no such file");
  DriveEntry entry = fs.Root();
  for (std::string_view name : parts) {
    if (!entry.directory) return fail(ErrorCode::kNotFound, "no such file");
    METASTACK_ASSIGN_OR_RETURN(auto entries, fs.List(entry));
    auto match = std::find_if(entries.begin(), entries.end(), [&](const DriveEntry& e) {
      return fs.CaseInsensitive() ? EqualsIgnoringAsciiCase(e.name, name) : e.name == name;
    });
    if (match == entries.end()) return fail(ErrorCode::kNotFound, "no such file");
    entry = std::move(*match);
  }
  if (entry.directory) return fail(ErrorCode::kNotFound, "a directory, not a file");
  if (entry.size > kMaxDriveFileBytes)
    return fail(ErrorCode::kTooLarge,
                std::to_string(entry.size) + " bytes, more than the 64 MiB a drive file may have");
  auto bytes = fs.ReadFile(entry);
  if (!bytes) return fail(bytes.error().code, bytes.error().message);
  return bytes;
}

Result<std::vector<std::string>> ListDriveFiles(DriveFs& fs) {
  drive_internal::Walker walker{fs, {}, {}};
  METASTACK_RETURN_IF_ERROR(walker.Walk(fs.Root(), "", 0));
  return std::move(walker.files);
}

Result<std::optional<DriveLabel>> ProbeDrive(const std::string& path) {
  METASTACK_ASSIGN_OR_RETURN(std::shared_ptr<ImageSource> source, OpenImageFile(path));
  METASTACK_ASSIGN_OR_RETURN(auto fs, OpenDriveFs(std::move(source)));
  if (!fs) return std::nullopt;
  return fs->Label();
}

Result<std::unique_ptr<Tree>> OpenDrive(const std::string& path) {
  METASTACK_ASSIGN_OR_RETURN(std::shared_ptr<ImageSource> source, OpenImageFile(path));
  METASTACK_ASSIGN_OR_RETURN(auto fs, OpenDriveFs(std::move(source)));
  if (!fs)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "neither ISO 9660 nor FAT", path));
  return std::make_unique<drive_internal::DriveTree>(std::move(fs));
}

std::vector<FoundDrive> FindDrives(const std::vector<std::string>& labels,
                                   const std::string& sys_block, const std::string& dev_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(sys_block, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code dir_ec;
    if (std::filesystem::is_directory(it->path(), dir_ec))
      names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<FoundDrive> probed;
  for (const std::string& name : names) {
    std::string device = dev_dir + "/" + name;
    auto label = ProbeDrive(device);
    if (label && *label) probed.push_back(FoundDrive{device, **label});
  }
  std::vector<FoundDrive> out;
  std::set<std::string> taken;
  for (const std::string& want : labels)
    for (const FoundDrive& d : probed)
      if (EqualsIgnoringAsciiCase(d.label.label, want) && taken.insert(d.device).second)
        out.push_back(d);
  return out;
}

}  // namespace metastack::guest
