#include "guest/sources.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "guest/drive.h"

namespace metastack::guest {
namespace {

bool IsDirectoryPath(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The drives to read for a source: the given ones, else those found by label.
std::vector<std::string> Candidates(const std::vector<std::string>& given,
                                    const std::vector<std::string>& labels,
                                    const SourceOptions& options) {
  if (!given.empty()) return given;
  std::vector<std::string> out;
  for (const auto& found : FindDrives(labels, options.sys_block, options.dev_dir))
    out.push_back(found.device);
  return out;
}

Result<std::unique_ptr<Tree>> OpenAny(const std::string& path) {
  if (IsDirectoryPath(path)) return DirectoryTree(path);
  return OpenDrive(path);
}

// Absent: a drive that cannot be opened, a tree without the layout's first file, or a
// service that did not answer. Anything else the source said is an answer.
bool Absent(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout;
}

// A tree that answers one path from what was already read of it (the service's probe), so that
// loading the instance does not ask the service for it a second time.
class Probed final : public Tree {
 public:
  Probed(Tree& inner, std::string path, Result<std::string> answer)
      : inner_(inner), path_(std::move(path)), answer_(std::move(answer)) {}
  Result<std::string> Read(std::string_view path) override {
    return path == path_ ? answer_ : inner_.Read(path);
  }
  std::string Describe() const override { return inner_.Describe(); }

 private:
  Tree& inner_;
  std::string path_;
  Result<std::string> answer_;
};

}  // namespace

std::string_view SourceName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kConfigDrive:
      return "config-drive";
    case SourceKind::kService:
      return "service";
    case SourceKind::kNoCloud:
      return "nocloud";
  }
  return "config-drive";
}

Result<SourceKind> ParseSourceName(std::string_view name) {
  for (auto kind : {SourceKind::kConfigDrive, SourceKind::kService, SourceKind::kNoCloud})
    if (SourceName(kind) == name) return kind;
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument,
                "unknown source '" + std::string(name) + "' (config-drive, service or nocloud)"));
}

std::vector<std::string> DefaultServiceUrls(const std::string& sys_class_net) {
  std::vector<std::string> out = {"http://169.254.169.254"};
  std::vector<std::string> names;
  if (DIR* dir = opendir(sys_class_net.c_str())) {
    while (dirent* e = readdir(dir)) {
      std::string name = e->d_name;
      if (name != "." && name != ".." && name != "lo") names.push_back(name);
    }
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) out.push_back("http://[fe80::a9fe:a9fe%" + n + "]");
  return out;
}

Result<InstanceData> FindInstance(const SourceOptions& options) {
  std::vector<std::string> tried;
  auto from_drives = [&](SourceKind kind, const std::vector<std::string>& given,
                         const std::vector<std::string>& labels,
                         Layout layout) -> std::optional<Result<InstanceData>> {
    auto drives = Candidates(given, labels, options);
    if (drives.empty()) {
      options.say(std::string(SourceName(kind)) + ": no drive labelled " + labels.front());
      tried.push_back(std::string(SourceName(kind)) + " (no drive labelled " + labels.front() +
                      ")");
    }
    for (const auto& path : drives) {
      auto tree = OpenAny(path);
      if (!tree) {
        options.say(std::string(SourceName(kind)) + ": " + path + ": " + tree.error().ToString());
        tried.push_back(path + " (" + tree.error().ToString() + ")");
        continue;
      }
      options.say(std::string(SourceName(kind)) + ": reading " + (*tree)->Describe());
      return LoadInstance(**tree, layout);
    }
    return std::nullopt;
  };

  for (SourceKind kind : options.order) {
    if (kind == SourceKind::kConfigDrive) {
      if (auto got = from_drives(kind, options.drives, {"config-2"}, Layout::kOpenStack))
        return std::move(*got);
    } else if (kind == SourceKind::kNoCloud) {
      if (auto got = from_drives(kind, options.nocloud_drives, {"cidata"}, Layout::kNoCloud))
        return std::move(*got);
    } else {
      auto urls = options.urls.empty() ? DefaultServiceUrls(options.sys_class_net) : options.urls;
      for (const auto& url : urls) {
        ServiceOptions service = options.service;
        service.base_url = url;
        auto tree = ServiceTree(service);
        options.say("service: trying " + url);
        const std::string kProbe = "openstack/latest/meta_data.json";
        auto probe = tree->Read(kProbe);
        if (!probe && Absent(probe.error())) {
          options.say("service: " + probe.error().ToString());
          tried.push_back(url + " (" + probe.error().ToString() + ")");
          continue;
        }
        Layout layout = Layout::kOpenStack;
        if (!probe && probe.error().code == ErrorCode::kNotFound) {
          options.say("service: " + url + " has no OpenStack tree; reading its EC2 tree");
          layout = Layout::kEc2;
        } else if (!probe) {
          return std::unexpected(probe.error());
        }
        Probed probed(*tree, kProbe, probe);
        auto data = LoadInstance(probed, layout);
        if (data) {
          data->service_url = url;
          data->service_token = tree->token();
        }
        return data;
      }
    }
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : "; ") + t;
  return std::unexpected(
      MakeError(ErrorCode::kNotFound, "no metadata source found (tried: " + list + ")"));
}

}  // namespace metastack::guest
