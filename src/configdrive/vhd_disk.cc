// Dynamic VHD (Microsoft's "Virtual Hard Disk Image Format Specification" 1.0), the layout
// `qemu-img convert -O vpc` writes and Hyper-V attaches: a copy of the footer at 0, the dynamic
// disk header at 512, the block allocation table (BAT) at 1536, then 2 MiB blocks, each its
// 512-byte sector bitmap (every sector present) and its data, in disk order; the footer last.
//
// The size trap: QEMU (block/vpc.c, vpc_open) takes a VHD's size from its CHS geometry unless
// the creator application is one it knows to use the footer's size ("win ", "qem2", "d2v ",
// "CTXS", "tap\0"). We name ourselves ("mstk") and make the geometry exact instead
// (VhdGeometryFor), so that QEMU and Hyper-V agree on the size.
#include <algorithm>

#include "configdrive/byte_order.h"
#include "configdrive/disk_container.h"

namespace metastack::configdrive::disk {
namespace {

constexpr uint64_t kVhdBlock = 2 * kMiB;
constexpr uint64_t kVhdBitmap = 512;  // 4096 sectors, one bit each, padded to a sector
constexpr uint64_t kVhdHeaderAt = 512;
constexpr uint64_t kVhdBatAt = 1536;
// Hyper-V's and QEMU's limit for a dynamic VHD (VHD_MAX_SECTORS = 0xff000000).
constexpr uint64_t kVhdMaxSize = uint64_t{0xFF000000} * kSector;
constexpr int64_t kVhdEpoch = 946684800;  // 2000-01-01T00:00:00Z

// Ones' complement of the byte sum, the checksum field counted as zero.
uint32_t VhdChecksum(const std::string& s, size_t field) {
  uint32_t sum = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if (i < field || i >= field + 4) sum += static_cast<uint8_t>(s[i]);
  return ~sum;
}

VhdGeometry SpecGeometry(uint64_t total) {
  // The specification's appendix, "CHS Calculation".
  total = std::min(total, kVhdMaxGeometrySectors);
  uint64_t spt, heads, cth;
  if (total >= uint64_t{65535} * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = total / spt;
  } else {
    spt = 17;
    cth = total / spt;
    heads = std::max<uint64_t>((cth + 1023) / 1024, 4);
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = total / spt;
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = total / spt;
    }
  }
  return {static_cast<uint32_t>(cth / heads), static_cast<uint32_t>(heads),
          static_cast<uint32_t>(spt)};
}

}  // namespace

VhdGeometry VhdGeometryFor(uint64_t sectors) {
  if (sectors >= kVhdMaxGeometrySectors) return {65535, 16, 255};
  VhdGeometry spec = SpecGeometry(sectors);
  if (spec.Sectors() == sectors) return spec;
  VhdGeometry best{};
  for (uint32_t s = 255; s >= 1; --s) {
    for (uint32_t h = 16; h >= 1; --h) {
      const uint64_t c = (sectors + uint64_t{h} * s - 1) / (uint64_t{h} * s);
      if (c > 65535) continue;
      VhdGeometry g{static_cast<uint32_t>(c), h, s};
      if (g.Sectors() == sectors) return g;
      if (best.Sectors() == 0 || g.Sectors() < best.Sectors()) best = g;
    }
  }
  return best;
}

Result<Image> WrapVhd(const Image& raw, const DiskOptions& options) {
  METASTACK_RETURN_IF_ERROR(CheckSectors(raw, DiskFormat::kVhd));
  if (raw.size > kVhdMaxSize)
    return std::unexpected(
        TooLarge(DiskFormat::kVhd, raw.size, "a dynamic VHD holds at most 2040 GiB"));
  const VhdGeometry geometry = VhdGeometryFor(raw.size / kSector);
  // The size QEMU and Hyper-V both see: the raw size when the geometry is exact (or at the
  // maximum, where QEMU reads the footer), else the geometry's (VhdGeometryFor).
  const uint64_t size = geometry.Sectors() >= kVhdMaxGeometrySectors
                            ? raw.size
                            : std::max(raw.size, geometry.Sectors() * kSector);
  const uint64_t entries = (size + kVhdBlock - 1) / kVhdBlock;
  const uint64_t bat_bytes = (entries * 4 + kSector - 1) / kSector * kSector;
  const uint64_t blocks_at = kVhdBatAt + bat_bytes;
  const std::vector<uint64_t> used = UsedUnits(raw, kVhdBlock);
  const uint64_t footer_at = blocks_at + used.size() * (kVhdBitmap + kVhdBlock);

  std::string footer(512, '\0');
  char* f = footer.data();
  std::copy_n("conectix", 8, f);
  PutBe32(f + 8, 2);            // features: reserved bit, always set
  PutBe32(f + 12, 0x00010000);  // format version 1.0
  PutBe64(f + 16, kVhdHeaderAt);
  const int64_t seconds = std::clamp<int64_t>(options.timestamp - kVhdEpoch, 0, 0xFFFFFFFF);
  PutBe32(f + 24, static_cast<uint32_t>(seconds));
  std::copy_n("mstk", 4, f + 28);  // creator application: ours, see the top of this file
  PutBe32(f + 32, 0x00010000);
  std::copy_n("Wi2k", 4, f + 36);  // creator host OS: what qemu-img writes
  PutBe64(f + 40, size);           // original size
  PutBe64(f + 48, size);           // current size
  PutBe16(f + 56, geometry.cylinders);
  f[58] = static_cast<char>(geometry.heads);
  f[59] = static_cast<char>(geometry.sectors_per_track);
  PutBe32(f + 60, 3);  // dynamic
  const auto id = DerivedUuid(ContentDigest(raw), "vhd unique id");
  std::copy(id.begin(), id.end(), f + 68);
  PutBe32(f + 64, VhdChecksum(footer, 64));

  std::string header(1024, '\0');
  char* d = header.data();
  std::copy_n("cxsparse", 8, d);
  PutBe64(d + 8, ~uint64_t{0});  // data offset: unused
  PutBe64(d + 16, kVhdBatAt);
  PutBe32(d + 24, 0x00010000);
  PutBe32(d + 28, static_cast<uint32_t>(entries));
  PutBe32(d + 32, static_cast<uint32_t>(kVhdBlock));
  PutBe32(d + 36, VhdChecksum(header, 36));

  ContainerBuilder out;
  std::string bat(bat_bytes, '\xFF');  // 0xFFFFFFFF: a block not stored (zeros)
  RawReader reader(raw);
  for (size_t i = 0; i < used.size(); ++i) {
    const uint64_t at = blocks_at + i * (kVhdBitmap + kVhdBlock);
    PutBe32(&bat[used[i] * 4], static_cast<uint32_t>(at / kSector));
    out.Put(at, std::string(kVhdBitmap, '\xFF'));
    const uint64_t from = used[i] * kVhdBlock;
    out.Put(at + kVhdBitmap, reader.Bytes(from, std::min(kVhdBlock, raw.size - from)));
  }
  out.Put(0, footer);
  out.Put(kVhdHeaderAt, std::move(header));
  out.Put(kVhdBatAt, std::move(bat));
  out.Put(footer_at, std::move(footer));
  return std::move(out).Finish(footer_at + 512);
}

}  // namespace metastack::configdrive::disk
