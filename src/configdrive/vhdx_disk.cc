// Dynamic VHDX (Microsoft's [MS-VHDX] 2.0), as Hyper-V lays it out, every region on a 1 MiB
// boundary: the file type identifier, two headers (64 KiB and 128 KiB) and two region tables
// (192 KiB and 256 KiB) in the first MiB; a 1 MiB log region that holds nothing (the log GUID
// is zero: nothing to replay); the metadata region (file parameters, virtual disk size, page 83
// data, logical/physical sector size 512/4096); the BAT; then the 1 MiB payload blocks that hold
// data, in disk order. Blocks are 1 MiB, the format's smallest, so that a drive stores little
// more than its data. Checksums are CRC-32C; GUIDs are derived from the drive's content.
#include <array>

#include "configdrive/byte_order.h"
#include "configdrive/disk_container.h"

namespace metastack::configdrive::disk {
namespace {

constexpr uint64_t kVhdxBlock = 1 * kMiB;
constexpr uint64_t kVhdxLogicalSector = 512;
constexpr uint64_t kVhdxPhysicalSector = 4096;
// Payload blocks per sector bitmap block: 2^23 sectors over the block size.
constexpr uint64_t kVhdxChunkRatio = (uint64_t{1} << 23) * kVhdxLogicalSector / kVhdxBlock;
constexpr uint64_t kVhdxHeader1At = 64 * kKiB;
constexpr uint64_t kVhdxHeader2At = 128 * kKiB;
constexpr uint64_t kVhdxRegions1At = 192 * kKiB;
constexpr uint64_t kVhdxRegions2At = 256 * kKiB;
constexpr uint64_t kVhdxLogAt = 1 * kMiB;
constexpr uint64_t kVhdxLogLength = 1 * kMiB;
constexpr uint64_t kVhdxMetadataAt = 2 * kMiB;
constexpr uint64_t kVhdxMetadataLength = 1 * kMiB;
constexpr uint64_t kVhdxBatAt = 3 * kMiB;
constexpr uint64_t kVhdxMaxSize = 64 * kTiB;  // the format's limit
constexpr uint64_t kVhdxFullyPresent = 6;

struct VhdxGuid {
  uint32_t a;
  uint16_t b, c;
  std::array<uint8_t, 8> d;
};
constexpr VhdxGuid kBatRegion{
    0x2DC27766, 0xF623, 0x4200, {0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08}};
constexpr VhdxGuid kMetadataRegion{
    0x8B7CA206, 0x4790, 0x4B9A, {0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E}};
constexpr VhdxGuid kFileParameters{
    0xCAA16737, 0xFA36, 0x4D43, {0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B}};
constexpr VhdxGuid kVirtualDiskSize{
    0x2FA54224, 0xCD1B, 0x4876, {0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8}};
constexpr VhdxGuid kPage83Data{
    0xBECA12AB, 0xB2E6, 0x4523, {0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46}};
constexpr VhdxGuid kLogicalSectorSize{
    0x8141BF1D, 0xA96F, 0x4709, {0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F}};
constexpr VhdxGuid kPhysicalSectorSize{
    0xCDA348C7, 0x445D, 0x4471, {0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56}};

// A GUID as Windows stores it: the first three fields little-endian, the rest as written.
void PutGuid(char* p, const VhdxGuid& g) {
  PutLe32(p, g.a);
  PutLe16(p + 4, g.b);
  PutLe16(p + 6, g.c);
  for (size_t i = 0; i < 8; ++i) p[8 + i] = static_cast<char>(g.d[i]);
}

VhdxGuid FromUuid(const std::array<uint8_t, 16>& u) {
  VhdxGuid g{};
  g.a = uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 | u[3];
  g.b = static_cast<uint16_t>(u[4] << 8 | u[5]);
  g.c = static_cast<uint16_t>(u[6] << 8 | u[7]);
  for (size_t i = 0; i < 8; ++i) g.d[i] = u[8 + i];
  return g;
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as [MS-VHDX] checksums its headers,
// region tables and log entries.
constexpr std::array<uint32_t, 256> MakeCrc32cTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrc32cTable = MakeCrc32cTable();

// The structure's CRC-32C with its checksum field (at 4) taken as zero, stored there.
void PutVhdxChecksum(std::string& s) {
  PutLe32(&s[4], 0);
  PutLe32(&s[4], Crc32c(s));
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  uint32_t c = 0xFFFFFFFF;
  for (char ch : data) c = kCrc32cTable[(c ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  return ~c;
}

Result<Image> WrapVhdx(const Image& raw) {
  METASTACK_RETURN_IF_ERROR(CheckSectors(raw, DiskFormat::kVhdx));
  if (raw.size > kVhdxMaxSize)
    return std::unexpected(TooLarge(DiskFormat::kVhdx, raw.size, "VHDX holds at most 64 TiB"));
  const uint64_t blocks = (raw.size + kVhdxBlock - 1) / kVhdxBlock;
  const uint64_t bat_entries = blocks + (blocks - 1) / kVhdxChunkRatio;
  const uint64_t bat_length = (bat_entries * 8 + kMiB - 1) / kMiB * kMiB;
  const uint64_t data_at = kVhdxBatAt + bat_length;
  const std::vector<uint64_t> used = UsedUnits(raw, kVhdxBlock);
  const Digest digest = ContentDigest(raw);
  ContainerBuilder out;

  std::string identifier(64 * kKiB, '\0');
  std::copy_n("vhdxfile", 8, identifier.data());
  constexpr std::string_view kCreator = "metastack";
  for (size_t i = 0; i < kCreator.size(); ++i) PutLe16(&identifier[8 + 2 * i], kCreator[i]);
  out.Put(0, std::move(identifier));

  for (uint64_t seq : {1, 2}) {
    std::string header(4 * kKiB, '\0');
    char* h = header.data();
    std::copy_n("head", 4, h);
    PutLe64(h + 8, seq);
    PutGuid(h + 16, FromUuid(DerivedUuid(digest, "vhdx file write guid")));
    PutGuid(h + 32, FromUuid(DerivedUuid(digest, "vhdx data write guid")));
    // h + 48: the log GUID, zero: the log holds nothing to replay.
    PutLe16(h + 64, 0);  // log version
    PutLe16(h + 66, 1);  // version
    PutLe32(h + 68, static_cast<uint32_t>(kVhdxLogLength));
    PutLe64(h + 72, kVhdxLogAt);
    PutVhdxChecksum(header);
    out.Put(seq == 1 ? kVhdxHeader1At : kVhdxHeader2At, std::move(header));
  }

  std::string regions(64 * kKiB, '\0');
  std::copy_n("regi", 4, regions.data());
  PutLe32(&regions[8], 2);
  const struct {
    const VhdxGuid& guid;
    uint64_t at, length;
  } kRegions[] = {{kBatRegion, kVhdxBatAt, bat_length},
                  {kMetadataRegion, kVhdxMetadataAt, kVhdxMetadataLength}};
  for (size_t i = 0; i < 2; ++i) {
    char* e = &regions[16 + 32 * i];
    PutGuid(e, kRegions[i].guid);
    PutLe64(e + 16, kRegions[i].at);
    PutLe32(e + 24, static_cast<uint32_t>(kRegions[i].length));
    PutLe32(e + 28, 1);  // required
  }
  PutVhdxChecksum(regions);
  out.Put(kVhdxRegions1At, regions);
  out.Put(kVhdxRegions2At, std::move(regions));

  std::string metadata(64 * kKiB + 40, '\0');
  std::copy_n("metadata", 8, metadata.data());
  constexpr uint32_t kVirtualDisk = 2, kRequired = 4;
  const struct {
    const VhdxGuid& guid;
    uint32_t offset, length, flags;
  } kItems[] = {{kFileParameters, 0, 8, kRequired},
                {kVirtualDiskSize, 8, 8, kVirtualDisk | kRequired},
                {kPage83Data, 16, 16, kVirtualDisk | kRequired},
                {kLogicalSectorSize, 32, 4, kVirtualDisk | kRequired},
                {kPhysicalSectorSize, 36, 4, kVirtualDisk | kRequired}};
  PutLe16(&metadata[10], static_cast<uint32_t>(std::size(kItems)));
  for (size_t i = 0; i < std::size(kItems); ++i) {
    char* e = &metadata[32 + 32 * i];
    PutGuid(e, kItems[i].guid);
    PutLe32(e + 16, static_cast<uint32_t>(64 * kKiB) + kItems[i].offset);
    PutLe32(e + 20, kItems[i].length);
    PutLe32(e + 24, kItems[i].flags);
  }
  char* items = &metadata[64 * kKiB];
  PutLe32(items + 0, static_cast<uint32_t>(kVhdxBlock));  // block size; flags 0: dynamic
  PutLe64(items + 8, raw.size);
  PutGuid(items + 16, FromUuid(DerivedUuid(digest, "vhdx page 83 data")));
  PutLe32(items + 32, kVhdxLogicalSector);
  PutLe32(items + 36, kVhdxPhysicalSector);
  out.Put(kVhdxMetadataAt, std::move(metadata));

  // The BAT, in 64 KiB pieces, only those that hold a present block (the rest read as zero:
  // PAYLOAD_BLOCK_NOT_PRESENT, and SB_BLOCK_NOT_PRESENT for the sector bitmap entries).
  constexpr uint64_t kPiece = 64 * kKiB;
  RawReader reader(raw);
  // Payload block b's entry: after b payload entries and one sector bitmap entry per chunk.
  auto entry_of = [](uint64_t b) { return b + b / kVhdxChunkRatio; };
  for (size_t i = 0; i < used.size();) {
    const uint64_t piece = entry_of(used[i]) * 8 / kPiece;
    std::string bat(kPiece, '\0');
    for (; i < used.size() && entry_of(used[i]) * 8 / kPiece == piece; ++i) {
      const uint64_t entry = entry_of(used[i]);
      const uint64_t at = data_at + i * kVhdxBlock;
      PutLe64(&bat[entry * 8 % kPiece], (at / kMiB) << 20 | kVhdxFullyPresent);
      out.Put(at, reader.Bytes(used[i] * kVhdxBlock, kVhdxBlock));
    }
    out.Put(kVhdxBatAt + piece * kPiece, std::move(bat));
  }
  return std::move(out).Finish(data_at + used.size() * kVhdxBlock);
}

}  // namespace metastack::configdrive::disk
