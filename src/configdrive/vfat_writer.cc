#include "configdrive/vfat_writer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>

#include "configdrive/byte_order.h"
#include "configdrive/vfat_names.h"

namespace metastack::configdrive {
namespace {

constexpr uint32_t kSector = 512;
constexpr uint8_t kMedia = 0xF8;
constexpr uint8_t kAttrVolumeLabel = 0x08;
constexpr uint8_t kAttrDirectory = 0x10;
constexpr uint8_t kAttrArchive = 0x20;
constexpr uint32_t kMaxFat12Clusters = 4084;
constexpr uint32_t kMaxFat16Clusters = 65524;
constexpr uint32_t kMaxFat32Clusters = 0x0FFFFFF5 - 2;

// --- geometry ---------------------------------------------------------------------------------
std::optional<FatGeometry> TryGeometry(uint32_t total, int bits, uint32_t spc) {
  FatGeometry g;
  g.fat_bits = bits;
  g.total_sectors = total;
  g.sectors_per_cluster = spc;
  g.reserved_sectors = bits == 32 ? 32 : 1;
  g.root_entries = bits == 32 ? 0 : 512;
  // The FAT must cover every cluster it describes, and growing it shrinks the data area:
  // iterate to the fixed point (it only grows, so this ends).
  uint32_t fat = 1;
  uint32_t clusters = 0;
  for (;;) {
    uint64_t meta = uint64_t{g.reserved_sectors} + 2ull * fat + g.RootDirSectors();
    if (meta >= total) return std::nullopt;
    clusters = static_cast<uint32_t>((total - meta) / spc);
    uint64_t fat_bytes = (uint64_t{clusters} + 2) * static_cast<uint64_t>(bits) / 8 + 1;
    uint32_t need = static_cast<uint32_t>((fat_bytes + kSector - 1) / kSector);
    if (need <= fat) break;
    fat = need;
  }
  g.fat_sectors = fat;
  g.cluster_count = clusters;
  bool fits = bits == 12   ? clusters >= 1 && clusters <= kMaxFat12Clusters
              : bits == 16 ? clusters > kMaxFat12Clusters && clusters <= kMaxFat16Clusters
                           : clusters > kMaxFat16Clusters && clusters <= kMaxFat32Clusters;
  if (!fits) return std::nullopt;
  return g;
}

// Microsoft's table ("FAT: General Overview of On-Disk Format"): the type and cluster size a
// formatter picks for a volume of `total` sectors.
std::pair<int, uint32_t> PreferredGeometry(uint32_t total) {
  if (total <= 8400) return {12, 1};
  if (total <= 32680) return {16, 2};
  if (total <= 262144) return {16, 4};
  if (total <= 524288) return {16, 8};
  if (total <= 1048576) return {16, 16};
  if (total <= 16777216) return {32, 8};
  if (total <= 33554432) return {32, 16};
  return {32, 32};
}

// --- timestamps -------------------------------------------------------------------------------
struct DosTime {
  uint16_t date = 0, time = 0;
  uint8_t tenths = 0;  // creation time's 10 ms units past the 2-second mark (0..199)
};

DosTime ToDos(int64_t t) {
  constexpr int64_t kMin = 315532800;   // 1980-01-01T00:00:00Z
  constexpr int64_t kMax = 4354819198;  // 2107-12-31T23:59:58Z
  time_t tt = static_cast<time_t>(std::clamp(t, kMin, kMax));
  struct tm tm {};
  gmtime_r(&tt, &tm);
  DosTime d;
  d.date = static_cast<uint16_t>(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
  d.time = static_cast<uint16_t>((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
  d.tenths = static_cast<uint8_t>((tm.tm_sec % 2) * 100);
  return d;
}

// One 32-byte short-name directory entry.
void AppendEntry(std::string& out, const ShortName& name, uint8_t attr, uint32_t cluster,
                 uint32_t size, const DosTime& t) {
  char e[32] = {};
  std::memcpy(e, name.data(), 11);
  e[11] = static_cast<char>(attr);
  e[13] = static_cast<char>(t.tenths);
  PutLe16(e + 14, t.time);
  PutLe16(e + 16, t.date);
  PutLe16(e + 18, t.date);  // last access
  PutLe16(e + 20, cluster >> 16);
  PutLe16(e + 22, t.time);
  PutLe16(e + 24, t.date);
  PutLe16(e + 26, cluster & 0xFFFF);
  PutLe32(e + 28, size);
  out.append(e, sizeof e);
}

ShortName DotName(int dots) { return MakeShortName(dots == 1 ? "." : "..", ""); }

// --- the plan: names, sizes, then clusters ------------------------------------------------------
struct Plan {
  const TreeNode* node = nullptr;
  ShortName short_name{};
  bool lfn = false;
  std::u16string long_name;
  uint32_t first_cluster = 0;  // 0: none (empty file, or the FAT12/16 root)
  uint32_t clusters = 0;
  uint64_t dir_bytes = 0;      // directories: entries * 32
  std::vector<Plan> children;  // directories only, in tree order
};

std::string FoldCase(std::u16string_view s) {
  std::string out;
  for (char16_t c : s) {
    char16_t u = c >= u'a' && c <= u'z' ? static_cast<char16_t>(c - u'a' + u'A') : c;
    out.push_back(static_cast<char>(u >> 8));
    out.push_back(static_cast<char>(u & 0xFF));
  }
  return out;
}

// Names every entry of `dir` and sizes the directory. `path` names it in errors.
Status PlanNames(Plan& dir, const std::string& path, bool is_root) {
  ShortNameGenerator names;
  std::set<std::string> folded;
  uint64_t entries = is_root ? 1 : 2;  // the volume label, or "." and ".."
  for (const auto& child : dir.node->children) {
    Plan p;
    p.node = &child;
    std::string child_path = path.empty() ? child.name : path + "/" + child.name;
    METASTACK_ASSIGN_OR_RETURN(p.long_name, Utf8ToUtf16(child.name));
    if (!folded.insert(FoldCase(p.long_name)).second)
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                       "two names differ only in case (FAT cannot tell them apart)",
                                       child_path));
    auto n = names.Add(child.name);
    p.short_name = n.short_name;
    p.lfn = n.needs_lfn;
    entries += 1 + (p.lfn ? LfnEntryCount(p.long_name.size()) : 0);
    if (child.IsDir()) METASTACK_RETURN_IF_ERROR(PlanNames(p, child_path, false));
    dir.children.push_back(std::move(p));
  }
  dir.dir_bytes = entries * 32;
  return Ok();
}

uint32_t ClustersFor(uint64_t bytes, uint32_t cluster_bytes) {
  return static_cast<uint32_t>((bytes + cluster_bytes - 1) / cluster_bytes);
}

// Depth first, in directory order: a directory's own clusters, then its children's.
void Allocate(Plan& dir, bool is_fixed_root, uint32_t cluster_bytes, uint64_t& next) {
  if (!is_fixed_root) {
    dir.first_cluster = static_cast<uint32_t>(next);
    dir.clusters = std::max<uint32_t>(1, ClustersFor(dir.dir_bytes, cluster_bytes));
    next += dir.clusters;
  }
  for (auto& c : dir.children) {
    if (c.node->IsDir()) {
      Allocate(c, false, cluster_bytes, next);
    } else if (!c.node->contents->empty()) {
      c.first_cluster = static_cast<uint32_t>(next);
      c.clusters = ClustersFor(c.node->contents->size(), cluster_bytes);
      next += c.clusters;
    }
  }
}

// --- emitting -------------------------------------------------------------------------------
class Emitter {
 public:
  Emitter(const FatGeometry& g, const ImageOptions& o, uint32_t used_clusters)
      : g_(g), opts_(o), time_(ToDos(o.timestamp)), fat_(used_clusters + 2, 0) {}

  void Chain(uint32_t first, uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) fat_[first + i] = i + 1 == count ? Eoc() : first + i + 1;
  }

  // A directory's entries; `parent_cluster` is 0 for a child of the root (FAT spec).
  std::string Directory(const Plan& dir, bool is_root, uint32_t parent_cluster) const {
    std::string out;
    if (is_root) {
      ShortName label;
      label.fill(' ');
      std::copy(opts_.label.begin(), opts_.label.end(), label.begin());
      AppendEntry(out, label, kAttrVolumeLabel, 0, 0, time_);
    } else {
      AppendEntry(out, DotName(1), kAttrDirectory, dir.first_cluster, 0, time_);
      AppendEntry(out, DotName(2), kAttrDirectory, parent_cluster, 0, time_);
    }
    for (const auto& c : dir.children) {
      if (c.lfn) AppendLfnEntries(c.long_name, LfnChecksum(c.short_name), out);
      bool is_dir = c.node->IsDir();
      AppendEntry(out, c.short_name, is_dir ? kAttrDirectory : kAttrArchive, c.first_cluster,
                  is_dir ? 0 : static_cast<uint32_t>(c.node->contents->size()), time_);
    }
    return out;
  }

  void Walk(const Plan& dir, bool is_root, uint32_t parent_cluster, Image& image) {
    std::string entries = Directory(dir, is_root, parent_cluster);
    if (is_root && g_.fat_bits != 32) {
      image.extents.push_back(
          {uint64_t{g_.reserved_sectors + 2 * g_.fat_sectors} * kSector, std::move(entries)});
    } else {
      Chain(dir.first_cluster, dir.clusters);
      image.extents.push_back({ClusterOffset(dir.first_cluster), std::move(entries)});
    }
    for (const auto& c : dir.children) {
      uint32_t own = is_root ? 0 : dir.first_cluster;
      if (c.node->IsDir()) {
        Walk(c, false, own, image);
      } else if (c.clusters) {
        Chain(c.first_cluster, c.clusters);
        image.extents.push_back({ClusterOffset(c.first_cluster), *c.node->contents});
      }
    }
  }

  // Both FATs, only as far as clusters are used (the rest is zero: free).
  void Fats(Image& image) {
    fat_[0] = (0x0FFFFF00u | kMedia) & Mask();
    fat_[1] = Eoc();  // with FAT16/32's "clean" and "no error" bits set
    std::string bytes;
    if (g_.fat_bits == 12) {
      bytes.assign((fat_.size() * 3 + 1) / 2, '\0');
      for (size_t i = 0; i < fat_.size(); ++i) {  // two 12-bit entries in three bytes
        const size_t at = i * 3 / 2;
        const uint32_t v = fat_[i] & 0xFFF;
        auto byte = [&](size_t k) -> uint8_t& { return reinterpret_cast<uint8_t&>(bytes[k]); };
        if (i % 2 == 0) {
          byte(at) = static_cast<uint8_t>(v & 0xFF);
          byte(at + 1) = static_cast<uint8_t>((byte(at + 1) & 0xF0) | (v >> 8));
        } else {
          byte(at) = static_cast<uint8_t>((byte(at) & 0x0F) | ((v & 0x0F) << 4));
          byte(at + 1) = static_cast<uint8_t>(v >> 4);
        }
      }
    } else {
      const size_t width = static_cast<size_t>(g_.fat_bits / 8);
      bytes.assign(fat_.size() * width, '\0');
      for (size_t i = 0; i < fat_.size(); ++i) {
        if (width == 2)
          PutLe16(&bytes[i * 2], fat_[i]);
        else
          PutLe32(&bytes[i * 4], fat_[i]);
      }
    }
    for (uint32_t copy = 0; copy < 2; ++copy)
      image.extents.push_back(
          {uint64_t{g_.reserved_sectors + copy * g_.fat_sectors} * kSector, bytes});
  }

  void BootSectors(Image& image, uint32_t serial, uint32_t used_clusters) const {
    std::string boot(kSector, '\0');
    char* b = boot.data();
    const bool fat32 = g_.fat_bits == 32;
    const int ebpb = fat32 ? 64 : 36;  // where the extended BPB starts
    const int code = ebpb + 26;        // and the boot code after it
    b[0] = static_cast<char>(0xEB);
    b[1] = static_cast<char>(code - 2);
    b[2] = static_cast<char>(0x90);
    std::memcpy(b + 3, "MSWIN4.1", 8);  // the OEM name Microsoft advises for compatibility
    PutLe16(b + 11, kSector);
    b[13] = static_cast<char>(g_.sectors_per_cluster);
    PutLe16(b + 14, g_.reserved_sectors);
    b[16] = 2;
    PutLe16(b + 17, g_.root_entries);
    PutLe16(b + 19, !fat32 && g_.total_sectors < 65536 ? g_.total_sectors : 0);
    b[21] = static_cast<char>(kMedia);
    PutLe16(b + 22, fat32 ? 0 : g_.fat_sectors);
    PutLe16(b + 24, 32);  // sectors per track and heads: unused without CHS, mkfs.fat's values
    PutLe16(b + 26, 64);
    PutLe32(b + 28, 0);
    PutLe32(b + 32, !fat32 && g_.total_sectors < 65536 ? 0 : g_.total_sectors);
    if (fat32) {
      PutLe32(b + 36, g_.fat_sectors);
      PutLe32(b + 44, 2);  // root directory cluster
      PutLe16(b + 48, 1);  // FSInfo sector
      PutLe16(b + 50, 6);  // backup boot sector
    }
    b[ebpb] = static_cast<char>(0x80);
    b[ebpb + 2] = 0x29;
    PutLe32(b + ebpb + 3, serial);
    std::memset(b + ebpb + 7, ' ', 11);
    std::memcpy(b + ebpb + 7, opts_.label.data(), opts_.label.size());
    std::memcpy(b + ebpb + 18, fat32 ? "FAT32   " : g_.fat_bits == 16 ? "FAT16   " : "FAT12   ", 8);
    // Not bootable: "int 18h" hands the BIOS back to its next boot device; then halt.
    const unsigned char kCode[] = {0xCD, 0x18, 0xF4, 0xEB, 0xFD};
    std::memcpy(b + code, kCode, sizeof kCode);
    b[510] = 0x55;
    b[511] = static_cast<char>(0xAA);
    image.extents.push_back({0, boot});
    if (!fat32) return;
    std::string info(kSector, '\0');
    PutLe32(&info[0], 0x41615252);
    PutLe32(&info[484], 0x61417272);
    PutLe32(&info[488], g_.cluster_count - used_clusters);  // free clusters
    PutLe32(&info[492], used_clusters + 2);                 // next free cluster
    PutLe32(&info[508], 0xAA550000);
    image.extents.push_back({1 * kSector, info});
    image.extents.push_back({6 * kSector, boot});
    image.extents.push_back({7 * kSector, info});
  }

 private:
  uint32_t Mask() const {
    return g_.fat_bits == 12 ? 0xFFF : g_.fat_bits == 16 ? 0xFFFF : 0x0FFFFFFF;
  }
  uint32_t Eoc() const { return Mask(); }
  uint64_t ClusterOffset(uint32_t cluster) const {
    return (uint64_t{g_.DataStartSector()} + uint64_t{cluster - 2} * g_.sectors_per_cluster) *
           kSector;
  }

  const FatGeometry& g_;
  const ImageOptions& opts_;
  DosTime time_;
  std::vector<uint32_t> fat_;
};

void HashFiles(EVP_MD_CTX* ctx, const TreeNode& dir, const std::string& path) {
  for (const auto& c : dir.children) {
    std::string p = path.empty() ? c.name : path + "/" + c.name;
    if (c.IsDir()) {
      HashFiles(ctx, c, p);
      continue;
    }
    std::string head = p + '\0';
    for (int s = 56; s >= 0; s -= 8)
      head.push_back(static_cast<char>((uint64_t{c.contents->size()} >> s) & 0xFF));
    EVP_DigestUpdate(ctx, head.data(), head.size());
    EVP_DigestUpdate(ctx, c.contents->data(), c.contents->size());
  }
}

uint32_t VolumeSerial(const TreeNode& tree, const VfatOptions& o) {
  std::string head = std::string("metastack vfat serial v1") + '\0' + o.image.label + '\0';
  for (uint64_t v : {static_cast<uint64_t>(o.image.timestamp), o.size_bytes})
    for (int s = 56; s >= 0; s -= 8) head.push_back(static_cast<char>((v >> s) & 0xFF));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, head.data(), head.size());
  HashFiles(ctx, tree, "");
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return uint32_t{digest[0]} | uint32_t{digest[1]} << 8 | uint32_t{digest[2]} << 16 |
         uint32_t{digest[3]} << 24;
}

std::string FatName(const FatGeometry& g) { return "FAT" + std::to_string(g.fat_bits); }

}  // namespace

Result<FatGeometry> ChooseFatGeometry(uint64_t size_bytes) {
  if (size_bytes % kSector != 0)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "image size must be a multiple of 512 bytes"));
  if (size_bytes < kMinVfatBytes || size_bytes > kMaxVfatBytes)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "image size must be between 1 MiB and 32 GiB"));
  const auto total = static_cast<uint32_t>(size_bytes / kSector);
  auto [bits, spc] = PreferredGeometry(total);
  if (auto g = TryGeometry(total, bits, spc)) return *g;
  // Near a type boundary the preferred cluster size can give a count the type cannot have:
  // take the next cluster size up that works, keeping the type if possible.
  for (int b : {bits, 12, 16, 32})
    for (uint32_t s = 1; s <= 64; s *= 2)
      if (auto g = TryGeometry(total, b, s)) return *g;
  return std::unexpected(MakeError(ErrorCode::kInternal, "no FAT geometry for this size"));
}

Result<std::unique_ptr<VfatWriter>> VfatWriter::Create(VfatOptions options) {
  const std::string& label = options.image.label;
  if (label.empty() || label.size() > 11)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "a FAT label has 1 to 11 characters", "label"));
  for (char c : label)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f ||
        std::string_view("\"*+,./:;<=>?[\\]|").find(c) != std::string_view::npos)
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, "character not allowed in a FAT label", "label"));
  METASTACK_ASSIGN_OR_RETURN(FatGeometry g, ChooseFatGeometry(options.size_bytes));
  return std::unique_ptr<VfatWriter>(new VfatWriter(std::move(options), g));
}

VfatWriter::VfatWriter(VfatOptions options, FatGeometry geometry)
    : options_(std::move(options)), geometry_(geometry) {}

Result<Image> VfatWriter::Build(const std::vector<core::DriveFile>& files) const {
  const FatGeometry& g = geometry_;
  METASTACK_ASSIGN_OR_RETURN(TreeNode tree, BuildTree(files, kVfatNameLimits));
  Plan root;
  root.node = &tree;
  METASTACK_RETURN_IF_ERROR(PlanNames(root, "", true));
  const bool fixed_root = g.fat_bits != 32;
  if (fixed_root && root.dir_bytes > uint64_t{g.root_entries} * 32)
    return std::unexpected(
        MakeError(ErrorCode::kTooLarge,
                  "too many names in the root directory (" + FatName(g) + " holds 512 entries)"));
  uint64_t next = 2;
  Allocate(root, fixed_root, g.ClusterBytes(), next);
  const uint64_t used = next - 2;
  if (used > g.cluster_count)
    return std::unexpected(MakeError(
        ErrorCode::kTooLarge, "the files need " + std::to_string(used) + " clusters of " +
                                  std::to_string(g.ClusterBytes()) + " bytes but a " +
                                  std::to_string(options_.size_bytes >> 20) + " MiB " + FatName(g) +
                                  " image has " + std::to_string(g.cluster_count) + " free"));

  Image image;
  image.size = options_.size_bytes;
  Emitter emit(g, options_.image, static_cast<uint32_t>(used));
  emit.Walk(root, true, 0, image);
  emit.Fats(image);
  emit.BootSectors(image, VolumeSerial(tree, options_), static_cast<uint32_t>(used));
  std::sort(image.extents.begin(), image.extents.end(),
            [](const Image::Extent& a, const Image::Extent& b) { return a.offset < b.offset; });
  return image;
}

}  // namespace metastack::configdrive
