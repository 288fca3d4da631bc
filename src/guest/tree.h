#pragma once
// A read-only tree of files that a guest reads its instance from: a config drive (an ISO 9660
// or VFAT image read in place, or a mounted directory), the metadata service, or a NoCloud seed.
//
// Paths are relative and '/'-separated, exactly as on a config drive and as the metadata
// service's URL paths (without the leading '/'): "openstack/latest/meta_data.json",
// "openstack/content/0000", "ec2/latest/meta-data.json", "meta-data" (NoCloud).
//
// Read returns the file's bytes; ErrorCode::kNotFound when the tree has no such file; any other
// code when the source itself failed (an unreadable device, a corrupt image, a service that did
// not answer), which callers report rather than treat as absence. Implementations block; one
// Tree is used by one thread at a time (thread-compatible).

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace metastack::guest {

class Tree {
 public:
  virtual ~Tree() = default;
  virtual Result<std::string> Read(std::string_view path) = 0;
  // What the tree is, for logs and errors: "config drive /dev/sr0 (iso9660, config-2)".
  virtual std::string Describe() const = 0;
};

// kInvalidArgument "not a relative path in a tree" (field: the path) when `path` is empty,
// starts or ends with '/', or has an empty, "." or ".." component: what every Tree refuses
// before reading, so that no path leaves the tree.
Status CheckTreePath(std::string_view path);

// A directory on the local file system (a mounted drive, or a tree `metastack configdrive
// build --format dir` wrote). A path with an empty, "." or ".." component is kInvalidArgument.
std::unique_ptr<Tree> DirectoryTree(std::string root);

}  // namespace metastack::guest
