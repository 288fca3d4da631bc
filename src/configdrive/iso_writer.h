#pragma once
// IsoWriter: ISO9660 images as Nova makes config drives with
//   genisoimage -o OUT -ldots -allow-lowercase -allow-multidot -l -publisher P -quiet -J -r
//               -V config-2 TREE
// but built in-process by libisofs: volume id = the label, system id "LINUX", publisher
// "metastack", Rock Ridge (RRIP 1.10, as genisoimage) and Joliet, primary names like
// genisoimage's (31 characters, lower case kept, "-" mapped to "_", ";1" versions), files 0444
// and directories 0555 owned by 0:0, no El Torito, no HFS.
//
// Reproducible: every recorded time (volume descriptors, directory records, Rock Ridge TF) is
// ImageOptions::timestamp in GMT; libisofs's "now" is overridden for the duration of a build;
// no UUIDs, no MD5 tags; directories are sorted, so data blocks are laid out in tree order.
//
// Limits (drive_tree.h): names up to 64 characters (Joliet's), 7 directory levels below the
// root (ISO 9660's 8 levels, root included).
//
// Thread-safety: libisofs keeps process-wide state (its message queue, the "now" override,
// stream serial numbers), so Build() holds a process-wide mutex while it talks to libisofs;
// concurrent builds are safe and run one at a time.

#include <string>
#include <vector>

#include "configdrive/drive_tree.h"
#include "configdrive/image_writer.h"

namespace metastack::configdrive {

inline constexpr std::string_view kIsoPublisher = "metastack";
inline constexpr NameLimits kIsoNameLimits{"Joliet", 64, "ISO 9660", 7};

class IsoWriter final : public ImageWriter {
 public:
  explicit IsoWriter(ImageOptions options, std::string publisher = std::string(kIsoPublisher));

  std::string_view FormatName() const override { return "iso9660"; }
  Result<Image> Build(const std::vector<core::DriveFile>& files) const override;

 private:
  ImageOptions options_;
  std::string publisher_;
};

}  // namespace metastack::configdrive
