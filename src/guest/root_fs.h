#pragma once
// File operations confined to a root directory, as metastack-guest applies an instance to `/`
// or to `--root DIR`: a guest path ("/etc/hostname") is resolved inside the root the way
// chroot(2) would resolve it. Symbolic links are followed with their absolute targets taken
// from the root and ".." never climbing above it, so a link on the image (or one planted by
// metadata) cannot send a write outside the root. Blocking; thread-compatible.

#include <sys/types.h>

#include <optional>
#include <string>

#include "base/error.h"

namespace metastack::guest {

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

  // Creates the missing directories of `guest_dir` (mode, owned by uid:gid when those are not
  // -1 and the process runs as root; otherwise the caller owns them), then writes `contents` to
  // `guest_path` atomically: a temporary file in the same directory, fsync'd, given `mode` and the
  // owner, renamed over the old one. A reader sees the old file or the new one, never a part.
  Status WriteAtomically(const std::string& guest_path, const std::string& contents, mode_t mode,
                         uid_t uid = static_cast<uid_t>(-1), gid_t gid = static_cast<gid_t>(-1),
                         mode_t dir_mode = 0755) const;
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
