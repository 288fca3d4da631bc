#pragma once
// FAT12/16/32 with VFAT long names, read in place: the project's one FAT reader (the guest reads
// drives with it; configdrive's tests and the vfat_writer fuzz target check what VfatWriter wrote
// with CheckFat). drive.h is the guest's contract; this header adds what those checks need.
//
// Decisions follow Linux's fat/vfat drivers: the type comes from the cluster count (FAT32 when
// the 16-bit FAT size is 0); a long name is taken only when its LFN entries are in sequence and
// their checksum matches the short entry that follows, else the short name is used (lower-cased
// per the NT case bits); names compare case-insensitively (ASCII, as vfat with utf8). The label
// is the root directory's volume-label entry when there is one, else the boot sector's (0x2B on
// FAT12/16, 0x47 on FAT32), as blkid reads it; "NO NAME" is no label.
//
// Bounds: every cluster number is checked against the data area, a chain may not revisit a
// cluster, a directory holds at most 2 MiB (65536 entries), a file at most 64 MiB, and a file's
// chain must be as long as its size needs. A boot sector without FAT's type string or with an
// impossible sector size, cluster size, reserved or FAT count is not FAT (Open gives nullptr);
// one whose areas do not fit together is kInvalidArgument. Thread-compatible.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "guest/drive_fs.h"
#include "guest/image_source.h"

namespace metastack::guest {

class FatVolume final : public DriveFs {
 public:
  // nullptr when `source` does not start with a FAT boot sector.
  static Result<std::unique_ptr<FatVolume>> Open(std::shared_ptr<ImageSource> source);

  DriveLabel Label() const override { return {DriveFormat::kVfat, label_}; }
  bool CaseInsensitive() const override { return true; }
  DriveEntry Root() const override { return DriveEntry{"", true, 0, 0}; }  // cluster 0: root
  Result<std::vector<DriveEntry>> List(const DriveEntry& directory) override;
  Result<std::string> ReadFile(const DriveEntry& file) override;
  const std::string& Name() const override { return source_->Name(); }

  // As List, with the "." and ".." entries kept (CheckFat looks at where they point).
  Result<std::vector<DriveEntry>> ListAll(const DriveEntry& directory);

  int bits() const { return bits_; }                    // 12, 16 or 32
  uint32_t cluster_count() const { return clusters_; }  // data clusters 2 .. cluster_count + 1
  uint32_t reserved_sectors() const { return reserved_; }
  uint32_t fat_sectors() const { return fat_sectors_; }  // of one FAT
  // The first FAT's entry for data cluster `cluster` (end-of-chain values as stored, FAT32's
  // top four bits masked).
  Result<uint32_t> Next(uint32_t cluster);

 private:
  explicit FatVolume(std::shared_ptr<ImageSource> source) : source_(std::move(source)) {}
  Status Init(const std::string& boot);
  std::unexpected<Error> Fail(std::string what) const;
  // The clusters of the chain from `first`: `needed` of them when given (a file), else up to
  // the end-of-chain mark (a directory, at most kMaxDirectoryBytes).
  Result<std::vector<uint32_t>> Chain(uint32_t first, std::optional<uint64_t> needed);
  Result<std::string> ReadClusters(const std::vector<uint32_t>& chain);
  Result<std::string> DirectoryBytes(const DriveEntry& directory);

  std::shared_ptr<ImageSource> source_;
  std::string label_;
  int bits_ = 0;
  uint32_t sector_bytes_ = 0, cluster_sectors_ = 0, reserved_ = 0, fat_sectors_ = 0;
  uint32_t root_entries_ = 0, root_cluster_ = 0, clusters_ = 0;
  uint64_t root_sector_ = 0, data_sector_ = 0;
  // A window of the first FAT, so that following a chain is not a read per cluster.
  uint64_t window_at_ = 0;
  std::string window_;
};

// What fsck would say, for tests of a writer: every file read back by path, every directory,
// and every fault (a chain out of range, looping or too short, "." or ".." pointing elsewhere, a
// name listed twice, directories nested deeper than 64), in reading order. Faults never stop
// the walk.
struct FatCheck {
  std::map<std::string, std::string> files;
  std::vector<std::string> directories;
  std::vector<std::string> problems;
};
FatCheck CheckFat(FatVolume& volume);

}  // namespace metastack::guest
