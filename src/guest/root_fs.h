#pragma once
// File operations confined to a root directory, as metastack-guest applies an instance to `/`
// or to `--root DIR`: a guest path ("/etc/hostname") is resolved inside the root the way
// chroot(2) would resolve it. Symbolic links are followed with their absolute targets taken
// from the root and ".." never climbing above it, so a link on the image (or one planted by
// metadata) cannot send a write outside the root. Blocking; thread-compatible.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace metastack::guest {

// One file to write (RootFs::WriteFiles).
struct FileWrite {
  std::string path;  // guest path
  std::string contents;
  mode_t mode = 0644;
  uid_t uid = static_cast<uid_t>(-1);  // -1: leave as the process makes it
  gid_t gid = static_cast<gid_t>(-1);
  mode_t dir_mode = 0755;  // for directories it makes
};

class RootFs {
 public:
  explicit RootFs(std::string root);  // "/" or a directory; need not end in '/'

  const std::string& root() const { return root_; }

  // The guest path checked: absolute, no NUL, no empty... kInvalidArgument "path escapes the
  // root" for a ".." that would climb above it, "not an absolute path" otherwise. Returns the
  // host path every existing symbolic link on the way resolved inside the root.
  Result<std::string> Resolve(const std::string& guest_path) const;

  // The file's bytes; nullopt when it does not exist.
  Result<std::optional<std::string>> ReadIfExists(const std::string& guest_path) const;
  bool IsDirectory(const std::string& guest_path) const;

  // Writes each file atomically, as one step: the missing directories of its path are made
  // (dir_mode, owned by uid:gid when those are not -1 and the process runs as root; otherwise
  // the caller owns them), its contents go to a temporary file beside it with `mode` and the
  // owner, one syncfs(2) per file system makes every temporary file durable, and then each is
  // renamed over its path. A reader sees each file old or new, never a part; a failure before
  // the renames removes the temporary files and leaves every path as it was. One sync for the
  // whole set instead of an fsync per file: a first boot writes about ten small files.
  Status WriteFiles(const std::vector<FileWrite>& files) const;
  Status WriteAtomically(const std::string& guest_path, const std::string& contents, mode_t mode,
                         uid_t uid = static_cast<uid_t>(-1), gid_t gid = static_cast<gid_t>(-1),
                         mode_t dir_mode = 0755) const {
    return WriteFiles({{guest_path, contents, mode, uid, gid, dir_mode}});
  }
  Status MakeDirectories(const std::string& guest_dir, mode_t mode,
                         uid_t uid = static_cast<uid_t>(-1),
                         gid_t gid = static_cast<gid_t>(-1)) const;

 private:
  std::string root_;
};

struct PasswdEntry {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// `user`'s entry in the root's /etc/passwd (not the host's NSS: the root may be another tree).
// kNotFound "user NAME: not in /etc/passwd".
Result<PasswdEntry> LookUpUser(const RootFs& fs, const std::string& user);

}  // namespace metastack::guest
