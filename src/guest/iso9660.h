#pragma once
// ISO 9660 read in place (internal to guest/; drive.h is the contract). Names come from the
// Joliet supplementary volume descriptor when there is one (UCS-2 big-endian, escape sequences
// %/@, %/C or %/E; ";1" and trailing dots dropped, as Linux's isofs does), else from Rock Ridge
// NM entries in the primary tree (SUSP, with CE continuation areas; RE hides a relocated
// directory and CL stands for it where it belongs), else from the primary names with the
// version and a trailing dot dropped, lower-cased (isofs's map=normal). Names are compared
// case-sensitively. The label is the primary descriptor's volume id without trailing spaces.
//
// Refused cleanly: a logical block size other than 2048, records that cross their sector or
// their directory, more than 32 continuation areas for one record, continuation areas outside
// their block, multi-extent files (when read: they do not occur on config drives), and any
// extent past the image's end.

#include <memory>

#include "base/error.h"
#include "guest/drive_fs.h"
#include "guest/image_source.h"

namespace metastack::guest {

// A null pointer when `source` has no "CD001" volume descriptor at sector 16.
Result<std::unique_ptr<DriveFs>> OpenIso9660(std::shared_ptr<ImageSource> source);

}  // namespace metastack::guest
