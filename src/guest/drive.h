#pragma once
// Config drives and NoCloud seeds read in place: an ISO 9660 image (Joliet names, else Rock
// Ridge, else plain ISO 9660 names) or a VFAT image (FAT12/16/32, long names), on a block
// device or in an image file, read with pread(2) and never mounted. Our own writers
// (configdrive/) and genisoimage / mkfs.vfat + mcopy write what this reads.
//
// Names: Joliet and Rock Ridge names are case-sensitive, as on a mounted ISO; on VFAT, names
// compare case-insensitively, as Linux's vfat driver does. iso9660.h and fat.h say which names
// and which label each format gives.
//
// Blocking; a Tree from OpenDrive is thread-compatible. A corrupt image gives kInvalidArgument
// errors naming the device (Error::field) and what is wrong, never a crash or an unbounded
// read: every offset, size, cluster chain and directory record is checked against the image, a
// directory holds at most 2 MiB, and a file larger than 64 MiB is refused (kTooLarge) before
// anything is read. A failed read is kUnavailable; a missing file kNotFound.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "guest/tree.h"

namespace metastack::guest {

enum class DriveFormat { kIso9660, kVfat };

struct DriveLabel {
  DriveFormat format;
  std::string label;  // as recorded: ISO 9660 volume id (trailing spaces dropped) or FAT label
};

// The file system and label on `path` (a block device or an image file); nullopt when it is
// neither ISO 9660 nor FAT; an error when it cannot be read.
Result<std::optional<DriveLabel>> ProbeDrive(const std::string& path);

// `path` as a Tree. kInvalidArgument when it holds neither format.
Result<std::unique_ptr<Tree>> OpenDrive(const std::string& path);

struct FoundDrive {
  std::string device;  // "/dev/sr0"
  DriveLabel label;
};

// Every block device whose label is one of `labels` (compared case-insensitively, as
// cloud-init's find_devs_with does for config-2/CONFIG-2 and cidata/CIDATA), in the order of
// `labels`, then by device name. Devices are the entries of `sys_block` ("/sys/class/block"),
// opened as `dev_dir`/<name> ("/dev"); unreadable ones are skipped.
std::vector<FoundDrive> FindDrives(const std::vector<std::string>& labels,
                                   const std::string& sys_block = "/sys/class/block",
                                   const std::string& dev_dir = "/dev");

}  // namespace metastack::guest
