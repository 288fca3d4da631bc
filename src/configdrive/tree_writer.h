#pragma once
// Writes a config drive's file set as a plain directory tree (what `metastack render` makes and
// what the image writers consume). All or nothing: the tree is built in a temporary sibling
// directory and renamed into place, so a failure leaves no partial tree behind.
// Blocking; call from a worker thread, not an io_context.

#include <string>
#include <vector>

#include "base/error.h"
#include "core/metadata.h"

namespace metastack::configdrive {

// `dir` must not exist, or be an empty directory. Relative paths in `files` must not escape
// the tree ("..", absolute paths, NUL bytes are refused before anything is written).
Status WriteTree(const std::vector<core::DriveFile>& files, const std::string& dir);

}  // namespace metastack::configdrive
