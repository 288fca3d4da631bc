#include "guest/fat.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "base/utf8.h"

namespace metastack::guest {
namespace fat_internal {
namespace {

constexpr size_t kEntry = 32;
constexpr uint8_t kAttrVolume = 0x08;
constexpr uint8_t kAttrDirectory = 0x10;
constexpr uint8_t kAttrLongName = 0x0F;
constexpr uint64_t kWindowBytes = 64 << 10;
constexpr int kMaxCheckDepth = 64;
constexpr std::array<int, 13> kLfnChars = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};

uint8_t Byte(std::string_view s, size_t at) { return static_cast<uint8_t>(s[at]); }

uint8_t Checksum(std::string_view short_name) {
  uint8_t sum = 0;
  for (size_t i = 0; i < 11; ++i)
    sum = static_cast<uint8_t>(((sum & 1) << 7) + (sum >> 1) + Byte(short_name, i));
  return sum;
}

std::string Trimmed(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// "BASE.EXT", lower-cased where the NT case bits (byte 12) say so, as vfat shows it.
std::string ShortName(std::string_view e) {
  std::string base = Trimmed(e.substr(0, 8));
  if (!base.empty() && Byte(base, 0) == 0x05) base[0] = static_cast<char>(0xE5);
  std::string ext = Trimmed(e.substr(8, 3));
  if (Byte(e, 12) & 0x08) base = Lower(base);
  if (Byte(e, 12) & 0x10) ext = Lower(ext);
  return ext.empty() ? base : base + "." + ext;
}

std::string Utf16ToUtf8(const std::u16string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] < 0xE000)
      c = 0x10000 + ((c - 0xD800) << 10) + (s[++i] - 0xDC00);
    else if (c >= 0xD800 && c < 0xE000)
      c = kReplacementCharacter;
    AppendUtf8(out, c);
  }
  return out;
}

// A long name being assembled from LFN entries, last part first (the kernel's rules: a run
// starts at an entry flagged 0x40, each next one has the previous sequence number minus one and
// the same checksum; anything else discards the run).
struct LongName {
  bool active = false;
  int next = 0;  // the sequence number expected next; 0 once complete
  uint8_t checksum = 0;
  std::u16string chars;

  void Add(std::string_view e) {
    int seq = Byte(e, 0) & 0x1F;
    if (Byte(e, 0) & 0x40) {
      active = seq >= 1 && seq <= 20;
      chars.assign(size_t(seq) * 13, u'\0');
      checksum = Byte(e, 13);
    } else if (!active || seq != next || Byte(e, 13) != checksum) {
      active = false;
      return;
    }
    if (!active) return;
    for (size_t k = 0; k < kLfnChars.size(); ++k)
      chars[size_t(seq - 1) * 13 + k] = static_cast<char16_t>(Le16(e, kLfnChars[k]));
    next = seq - 1;
  }

  // The name, when the run is complete and belongs to the short entry `e`.
  std::optional<std::string> For(std::string_view e) {
    bool ok = active && next == 0 && checksum == Checksum(e);
    active = false;
    if (!ok) return std::nullopt;
    size_t end = chars.find(u'\0');
    std::u16string name = chars.substr(0, end);
    if (name.empty()) return std::nullopt;
    return Utf16ToUtf8(name);
  }
};

bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace
}  // namespace fat_internal

Result<std::unique_ptr<FatVolume>> FatVolume::Open(std::shared_ptr<ImageSource> source) {
  using namespace fat_internal;
  if (source->Size() < 512) return nullptr;
  METASTACK_ASSIGN_OR_RETURN(std::string boot, source->ReadAt(0, 512));
  std::string_view b = boot;
  bool magic = b.substr(54, 5) == "FAT12" || b.substr(54, 5) == "FAT16" ||
               b.substr(54, 8) == "FAT     " || b.substr(82, 5) == "FAT32";
  uint32_t sector = Le16(b, 11), media = Byte(b, 21);
  if (!magic || (sector != 512 && sector != 1024 && sector != 2048 && sector != 4096) ||
      !IsPowerOfTwo(Byte(b, 13)) || Le16(b, 14) == 0 || Byte(b, 16) == 0 ||
      (media != 0xF0 && media < 0xF8))
    return nullptr;
  std::unique_ptr<FatVolume> volume(new FatVolume(std::move(source)));
  METASTACK_RETURN_IF_ERROR(volume->Init(boot));
  return volume;
}

std::unexpected<Error> FatVolume::Fail(std::string what) const {
  using namespace fat_internal;
  return std::unexpected(source_->Corrupt("vfat: " + std::move(what)));
}

Status FatVolume::Init(const std::string& boot) {
  using namespace fat_internal;
  sector_bytes_ = Le16(boot, 11);
  cluster_sectors_ = Byte(boot, 13);
  reserved_ = Le16(boot, 14);
  uint32_t fats = Byte(boot, 16);
  root_entries_ = Le16(boot, 17);
  uint64_t total = Le16(boot, 19) ? Le16(boot, 19) : Le32(boot, 32);
  bool fat32 = Le16(boot, 22) == 0;
  fat_sectors_ = fat32 ? Le32(boot, 36) : Le16(boot, 22);
  if (fat_sectors_ == 0) return Fail("the boot sector gives no FAT size");
  root_sector_ = uint64_t{reserved_} + uint64_t{fats} * fat_sectors_;
  data_sector_ =
      root_sector_ + (uint64_t{root_entries_} * kEntry + sector_bytes_ - 1) / sector_bytes_;
  if (total <= data_sector_) return Fail("the boot sector leaves no data area");
  uint64_t clusters = (total - data_sector_) / cluster_sectors_;
  bits_ = fat32 ? 32 : clusters < 4085 ? 12 : 16;
  if (clusters == 0 || clusters > 0x0FFFFFF4)
    return Fail("the boot sector gives " + std::to_string(clusters) + " clusters");
  clusters_ = static_cast<uint32_t>(clusters);
  if (uint64_t{fat_sectors_} * sector_bytes_ * 8 / bits_ < clusters + 2)
    return Fail("the FAT is too small for the volume's " + std::to_string(clusters) + " clusters");
  if (fat32) {
    root_cluster_ = Le32(boot, 44);
    if (root_cluster_ < 2 || root_cluster_ >= clusters_ + 2)
      return Fail("the root directory's cluster " + std::to_string(root_cluster_) +
                  " is outside the data area");
  } else if (root_entries_ == 0) {
    return Fail("the boot sector gives no root directory");
  }
  size_t label_at = fat32 ? 0x47 : 0x2B;
  if (Byte(boot, fat32 ? 0x42 : 0x26) == 0x29)
    label_ = Trimmed(std::string_view(boot).substr(label_at, 11));
  // The root directory's volume-label entry wins, as blkid has it.
  METASTACK_ASSIGN_OR_RETURN(std::string root, DirectoryBytes(Root()));
  for (size_t at = 0; at + kEntry <= root.size(); at += kEntry) {
    std::string_view e = std::string_view(root).substr(at, kEntry);
    if (Byte(e, 0) == 0) break;
    if (Byte(e, 0) == 0xE5 || (Byte(e, 11) & 0x3F) == kAttrLongName) continue;
    if (Byte(e, 11) & kAttrVolume) {
      label_ = Trimmed(e.substr(0, 11));
      if (!label_.empty() && Byte(label_, 0) == 0x05) label_[0] = static_cast<char>(0xE5);
      break;
    }
  }
  if (label_ == "NO NAME") label_.clear();
  return Ok();
}

Result<uint32_t> FatVolume::Next(uint32_t cluster) {
  using namespace fat_internal;
  if (cluster < 2 || cluster >= clusters_ + 2)
    return Fail("cluster " + std::to_string(cluster) + " is outside the data area");
  uint64_t at = bits_ == 32   ? uint64_t{cluster} * 4
                : bits_ == 16 ? uint64_t{cluster} * 2
                              : uint64_t{cluster} * 3 / 2;
  size_t width = bits_ == 32 ? 4 : 2;
  if (window_.empty() || at < window_at_ || at + width > window_at_ + window_.size()) {
    uint64_t fat_bytes = uint64_t{fat_sectors_} * sector_bytes_;
    uint64_t window_at = at / kWindowBytes * kWindowBytes;
    uint64_t len = std::min(fat_bytes - window_at, kWindowBytes + 4);  // FAT12 straddles
    // Kept only when the read succeeds: a failed one leaves the old window consistent.
    METASTACK_ASSIGN_OR_RETURN(
        std::string window, source_->ReadAt(uint64_t{reserved_} * sector_bytes_ + window_at, len));
    window_ = std::move(window);
    window_at_ = window_at;
  }
  std::string_view w = std::string_view(window_).substr(at - window_at_);
  if (bits_ == 32) return Le32(w, 0) & 0x0FFFFFFF;
  if (bits_ == 16) return Le16(w, 0);
  uint32_t v = Le16(w, 0);
  return cluster % 2 ? v >> 4 : v & 0xFFF;
}

Result<std::vector<uint32_t>> FatVolume::Chain(uint32_t first, std::optional<uint64_t> needed) {
  using namespace fat_internal;
  const uint64_t cluster_bytes = uint64_t{cluster_sectors_} * sector_bytes_;
  const uint64_t most = needed ? *needed : (kMaxDirectoryBytes + cluster_bytes - 1) / cluster_bytes;
  const uint32_t end_mark = bits_ == 12 ? 0xFF8 : bits_ == 16 ? 0xFFF8 : 0x0FFFFFF8;
  std::vector<uint32_t> out;
  std::unordered_set<uint32_t> seen;
  const std::string from = "the cluster chain from " + std::to_string(first);
  for (uint32_t c = first;;) {
    if (c >= end_mark) {
      if (needed && out.size() < *needed)
        return Fail(from + " ends after " + std::to_string(out.size()) + " of the " +
                    std::to_string(*needed) + " clusters its file needs");
      return out;
    }
    if (c < 2 || c >= clusters_ + 2)
      return Fail(from + " leaves the data area at " + std::to_string(c));
    if (!seen.insert(c).second) return Fail(from + " loops at cluster " + std::to_string(c));
    if (out.size() == most) {
      if (needed) return out;  // a file: the rest of a longer chain is not its data
      return Fail("a directory at cluster " + std::to_string(first) + " is larger than 2 MiB");
    }
    out.push_back(c);
    if (needed && out.size() == *needed) return out;
    METASTACK_ASSIGN_OR_RETURN(c, Next(c));
  }
}

Result<std::string> FatVolume::ReadClusters(const std::vector<uint32_t>& chain) {
  using namespace fat_internal;
  const uint64_t cluster_bytes = uint64_t{cluster_sectors_} * sector_bytes_;
  std::string out;
  for (size_t i = 0; i < chain.size();) {
    size_t run = 1;  // contiguous clusters are one read
    while (i + run < chain.size() && chain[i + run] == chain[i] + run) ++run;
    uint64_t at = (data_sector_ + uint64_t{chain[i] - 2} * cluster_sectors_) * sector_bytes_;
    METASTACK_ASSIGN_OR_RETURN(std::string bytes, source_->ReadAt(at, run * cluster_bytes));
    out += bytes;
    i += run;
  }
  return out;
}

Result<std::string> FatVolume::DirectoryBytes(const DriveEntry& directory) {
  using namespace fat_internal;
  if (directory.location == 0 && bits_ != 32)
    return source_->ReadAt(root_sector_ * sector_bytes_, uint64_t{root_entries_} * kEntry);
  uint64_t first = directory.location == 0 ? root_cluster_ : directory.location;
  if (first > 0xFFFFFFFF)
    return Fail("cluster " + std::to_string(first) + " is outside the data area");
  METASTACK_ASSIGN_OR_RETURN(auto chain, Chain(static_cast<uint32_t>(first), std::nullopt));
  return ReadClusters(chain);
}

Result<std::vector<DriveEntry>> FatVolume::ListAll(const DriveEntry& directory) {
  using namespace fat_internal;
  METASTACK_ASSIGN_OR_RETURN(std::string bytes, DirectoryBytes(directory));
  std::vector<DriveEntry> out;
  LongName lfn;
  for (size_t at = 0; at + kEntry <= bytes.size(); at += kEntry) {
    std::string_view e = std::string_view(bytes).substr(at, kEntry);
    if (Byte(e, 0) == 0) break;
    if (Byte(e, 0) == 0xE5) {
      lfn.active = false;
      continue;
    }
    uint8_t attr = Byte(e, 11);
    if ((attr & 0x3F) == kAttrLongName) {
      lfn.Add(e);
      continue;
    }
    auto long_name = lfn.For(e);
    if (attr & kAttrVolume) continue;
    uint32_t first = Le16(e, 26) | (bits_ == 32 ? Le16(e, 20) << 16 : 0);
    out.push_back(DriveEntry{long_name ? *long_name : ShortName(e), (attr & kAttrDirectory) != 0,
                             Le32(e, 28), first});
  }
  return out;
}

Result<std::vector<DriveEntry>> FatVolume::List(const DriveEntry& directory) {
  using namespace fat_internal;
  METASTACK_ASSIGN_OR_RETURN(auto all, ListAll(directory));
  std::erase_if(all, [](const DriveEntry& e) { return e.name == "." || e.name == ".."; });
  return all;
}

Result<std::string> FatVolume::ReadFile(const DriveEntry& file) {
  using namespace fat_internal;
  if (file.size > kMaxDriveFileBytes)
    return std::unexpected(MakeError(ErrorCode::kTooLarge, "file too large", Name()));
  if (file.size == 0) return std::string();
  const uint64_t cluster_bytes = uint64_t{cluster_sectors_} * sector_bytes_;
  if (file.location > 0xFFFFFFFF)
    return Fail("cluster " + std::to_string(file.location) + " is outside the data area");
  METASTACK_ASSIGN_OR_RETURN(auto chain, Chain(static_cast<uint32_t>(file.location),
                                               (file.size + cluster_bytes - 1) / cluster_bytes));
  METASTACK_ASSIGN_OR_RETURN(std::string bytes, ReadClusters(chain));
  bytes.resize(file.size);
  return bytes;
}

namespace fat_internal {
namespace {

struct Checker {
  FatVolume& volume;
  FatCheck out;

  void Walk(const DriveEntry& dir, const std::string& prefix, uint64_t parent, int depth) {
    if (depth > kMaxCheckDepth) {
      out.problems.push_back(prefix + ": directories nested too deep");
      return;
    }
    auto entries = volume.ListAll(dir);
    if (!entries) {
      out.problems.push_back(prefix + ": " + entries.error().ToString());
      return;
    }
    for (const DriveEntry& e : *entries) {
      std::string path = prefix + e.name;
      if (e.name == "." || e.name == "..") {
        uint64_t want = e.name == "." ? dir.location : parent;
        if (e.location != want)
          out.problems.push_back(path + ": points to " + std::to_string(e.location));
      } else if (e.directory) {
        out.directories.push_back(path);
        Walk(e, path + "/", dir.location, depth + 1);
      } else if (out.files.count(path)) {
        out.problems.push_back(path + ": listed twice");
      } else {
        auto bytes = volume.ReadFile(e);
        if (!bytes) out.problems.push_back(path + ": " + bytes.error().ToString());
        out.files[path] = bytes ? std::move(*bytes) : std::string();
      }
    }
  }
};

}  // namespace
}  // namespace fat_internal

FatCheck CheckFat(FatVolume& volume) {
  using namespace fat_internal;
  Checker checker{volume, {}};
  checker.Walk(volume.Root(), "", 0, 0);
  return std::move(checker.out);
}

}  // namespace metastack::guest
