#include "guest/root_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/file.h"
#include "base/strings.h"

namespace metastack::guest {
namespace {

std::unexpected<Error> OsError(const std::string& what, int err) {
  return std::unexpected(MakeError(ErrorCode::kUnavailable, what + ": " + std::strerror(err)));
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  for (size_t at = 0; at < path.size();) {
    size_t end = path.find('/', at);
    if (end == std::string::npos) end = path.size();
    if (end > at) out.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// Ownership is set only by root: another user (a --root tree built by hand) cannot give files
// away, and gets them as its own.
bool Chowning(uid_t uid, gid_t gid) {
  return (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && geteuid() == 0;
}

constexpr int kMaxLinks = 40;  // as the kernel's MAXSYMLINKS

}  // namespace

RootFs::RootFs(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Result<std::string> RootFs::Resolve(const std::string& guest_path) const {
  if (guest_path.empty() || guest_path.front() != '/')
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "not an absolute path", guest_path));
  if (guest_path.find('\0') != std::string::npos)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "contains a NUL byte", guest_path));
  // The path as written may not climb: "/../etc" names a file outside any image's root.
  int depth = 0;
  for (const auto& name : Split(guest_path)) {
    depth += name == ".." ? -1 : name == "." ? 0 : 1;
    if (depth < 0)
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, "path escapes the root", guest_path));
  }
  std::vector<std::string> done;  // resolved components below the root
  std::vector<std::string> todo = Split(guest_path);
  std::reverse(todo.begin(), todo.end());
  int links = 0;
  auto host = [&] {
    std::string out = root_ == "/" ? "" : root_;
    for (const auto& n : done) out += "/" + n;
    return out.empty() ? std::string("/") : out;
  };
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == ".") continue;
    if (name == "..") {
      if (!done.empty()) done.pop_back();  // a link's ".." stops at the root, as in a chroot
      continue;
    }
    done.push_back(name);
    std::string at = host();
    struct stat st {};
    if (lstat(at.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
    if (++links > kMaxLinks)
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, "too many levels of symbolic links", guest_path));
    char target[PATH_MAX];
    ssize_t n = readlink(at.c_str(), target, sizeof target - 1);
    if (n < 0) return OsError(at, errno);
    std::string t(target, static_cast<size_t>(n));
    done.pop_back();
    if (!t.empty() && t.front() == '/') done.clear();
    auto parts = Split(t);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(*it);
  }
  return host();
}

Result<std::optional<std::string>> RootFs::ReadIfExists(const std::string& guest_path) const {
  METASTACK_ASSIGN_OR_RETURN(std::string path, Resolve(guest_path));
  auto got = ReadFile(path, /*follow_last_link=*/true);
  if (got) return std::optional<std::string>(std::move(*got));
  if (got.error().code == ErrorCode::kNotFound) return std::optional<std::string>();
  return std::unexpected(MakeError(ErrorCode::kUnavailable, got.error().ToString()));
}

bool RootFs::IsDirectory(const std::string& guest_path) const {
  auto path = Resolve(guest_path);
  struct stat st {};
  return path && stat(path->c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status RootFs::MakeDirectories(const std::string& guest_dir, mode_t mode, uid_t uid,
                               gid_t gid) const {
  std::string prefix;
  for (const auto& name : Split(guest_dir)) {
    prefix += "/" + name;
    METASTACK_ASSIGN_OR_RETURN(std::string path, Resolve(prefix));
    // A link may lead anywhere below the root, past directories that do not exist yet: each
    // missing one on the resolved path (no links left on it) is made, from the root down.
    std::string at = root_ == "/" ? "" : root_;
    for (const auto& part : Split(path.substr(at.size()))) {
      at += "/" + part;
      struct stat st {};
      if (stat(at.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
          return std::unexpected(
              MakeError(ErrorCode::kInvalidArgument, "exists and is not a directory", prefix));
        continue;
      }
      if (mkdir(at.c_str(), mode) != 0 && errno != EEXIST) return OsError(at, errno);
      if (chmod(at.c_str(), mode) != 0) return OsError(at, errno);  // past the umask
      if (Chowning(uid, gid) && chown(at.c_str(), uid, gid) != 0) return OsError(at, errno);
    }
  }
  return Ok();
}

Status RootFs::WriteFiles(const std::vector<FileWrite>& files) const {
  struct Staged {
    int fd;
    std::string tmp, path;
  };
  std::vector<Staged> staged;
  auto abandon = [&](Error error) {
    for (const auto& s : staged) {
      if (s.fd >= 0) close(s.fd);
      unlink(s.tmp.c_str());
    }
    return std::unexpected(std::move(error));
  };
  for (const auto& f : files) {
    size_t slash = f.path.rfind('/');
    std::string dir = f.path.substr(0, slash);
    if (!dir.empty())
      if (auto made = MakeDirectories(dir, f.dir_mode, f.uid, f.gid); !made)
        return abandon(made.error());
    auto path = Resolve(f.path);
    if (!path) return abandon(path.error());
    struct stat st {};
    if (lstat(path->c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return abandon(MakeError(ErrorCode::kInvalidArgument, "exists and is a directory", f.path));
    std::string tmp = *path + ".metastack-guest.tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return abandon(OsError(tmp, errno).error());
    staged.push_back({fd, tmp, *path});
    for (size_t at = 0; at < f.contents.size();) {
      ssize_t n = write(fd, f.contents.data() + at, f.contents.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return abandon(OsError(tmp, errno).error());
      at += static_cast<size_t>(n);
    }
    if (fchmod(fd, f.mode) != 0) return abandon(OsError(tmp, errno).error());
    if (Chowning(f.uid, f.gid) && fchown(fd, f.uid, f.gid) != 0)
      return abandon(OsError(tmp, errno).error());
  }
  std::vector<dev_t> synced;
  for (const auto& s : staged) {
    struct stat st {};
    if (fstat(s.fd, &st) != 0) return abandon(OsError(s.tmp, errno).error());
    if (std::find(synced.begin(), synced.end(), st.st_dev) != synced.end()) continue;
    if (syncfs(s.fd) != 0) return abandon(OsError(s.tmp, errno).error());
    synced.push_back(st.st_dev);
  }
  for (auto& s : staged) {
    close(s.fd);
    s.fd = -1;
  }
  for (size_t i = 0; i < staged.size(); ++i) {
    if (rename(staged[i].tmp.c_str(), staged[i].path.c_str()) != 0) {
      int err = errno;
      for (size_t j = i; j < staged.size(); ++j) unlink(staged[j].tmp.c_str());
      return OsError(staged[i].path, err);
    }
  }
  return Ok();
}

Result<PasswdEntry> LookUpUser(const RootFs& fs, const std::string& user) {
  METASTACK_ASSIGN_OR_RETURN(auto passwd, fs.ReadIfExists("/etc/passwd"));
  std::string entries = passwd.value_or("");
  for (std::string_view text : SplitLines(entries)) {
    std::string line(text);
    std::vector<std::string> f;
    for (size_t p = 0;;) {
      size_t c = line.find(':', p);
      f.push_back(line.substr(p, c == std::string::npos ? std::string::npos : c - p));
      if (c == std::string::npos) break;
      p = c + 1;
    }
    if (f.size() < 7 || f[0] != user) continue;
    char* end_uid = nullptr;
    char* end_gid = nullptr;
    unsigned long uid = std::strtoul(f[2].c_str(), &end_uid, 10);
    unsigned long gid = std::strtoul(f[3].c_str(), &end_gid, 10);
    if (f[2].empty() || *end_uid || f[3].empty() || *end_gid || f[5].empty() || f[5][0] != '/')
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, "user " + user + ": malformed /etc/passwd entry"));
    return PasswdEntry{static_cast<uid_t>(uid), static_cast<gid_t>(gid), f[5]};
  }
  return std::unexpected(MakeError(ErrorCode::kNotFound, "user " + user + ": not in /etc/passwd"));
}

}  // namespace metastack::guest
