#pragma once
// The validated directory tree both image writers lay out: paths split into names, checked
// once for everything a hostile or buggy caller could send, and sorted so that output does not
// depend on input order.
//
// Checks, each a kInvalidArgument whose field is the path (non-printable bytes shown as \xNN)
// and whose message is one of:
//   "empty path"                          "contains a NUL byte"
//   "absolute path in a drive tree"       "'.' or '..' in a drive tree path"
//   "empty name in a drive tree path"     "not valid UTF-8"
//   "control character or one of \"*:<>?\\| in a name"
//   "name ends with a dot or a space"     "duplicate path"
//   "is both a file and a directory"      "file larger than 4 GiB - 1 byte"
//   "name longer than N characters (the <format> limit)"
//   "more than N directory levels (the <format> limit)"
// The character rules are FAT's (the strictest of the formats); the config drive's own names
// (openstack/2018-08-27/meta_data.json ...) pass them all.
//
// Ownership: TreeNode::contents points into the caller's DriveFile vector, which must outlive
// the tree. Pure; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "core/metadata.h"

namespace metastack::configdrive {

struct TreeNode {
  std::string name;                       // one UTF-8 path component; empty for the root
  const std::string* contents = nullptr;  // files only; nullptr for directories
  std::vector<TreeNode> children;         // directories only, sorted by name (bytewise)

  bool IsDir() const { return contents == nullptr; }
};

struct NameLimits {
  std::string_view name_format;   // "Joliet", "VFAT": named in the name-length message
  size_t max_name_units = 0;      // UTF-16 code units per name (Joliet 64, VFAT 255)
  std::string_view depth_format;  // "ISO 9660": named in the depth message
  size_t max_depth = 0;           // directory levels below the root (0 = unlimited)
};

Result<TreeNode> BuildTree(const std::vector<core::DriveFile>& files, const NameLimits& limits);

// UTF-8 to UTF-16 (surrogate pairs for characters beyond U+FFFF). kInvalidArgument "not valid
// UTF-8" for malformed input, overlong forms, encoded surrogates and code points > U+10FFFF.
Result<std::u16string> Utf8ToUtf16(std::string_view utf8);

}  // namespace metastack::configdrive
