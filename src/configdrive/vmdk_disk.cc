// VMDK monolithicSparse (VMware's "Virtual Disk Format 5.0": a hosted sparse extent with its
// descriptor embedded), what VMware Workstation opens and `vmkfstools -i` imports on ESXi, laid
// out as `qemu-img convert -O vmdk` lays it: the sparse extent header ("KDMV") in sector 0, the
// descriptor in sectors 1-20, the redundant grain directory and its grain tables, the grain
// directory and its grain tables (every table allocated, as qemu-img allocates them), then the
// 64 KiB grains that hold data, in disk order.
#include <algorithm>
#include <cstdio>

#include "configdrive/byte_order.h"
#include "configdrive/disk_container.h"

namespace metastack::configdrive::disk {
namespace {

constexpr uint64_t kVmdkGrainSectors = 128;  // 64 KiB grains
constexpr uint64_t kVmdkGrain = kVmdkGrainSectors * kSector;
constexpr uint64_t kVmdkGtes = 512;  // grain table entries per grain table
constexpr uint64_t kVmdkGtSectors = kVmdkGtes * 4 / kSector;
constexpr uint64_t kVmdkDescriptorAt = 1;  // sectors
constexpr uint64_t kVmdkDescriptorSectors = 20;
// Grain and table offsets are 32-bit sector numbers, so the file stays under 2 TiB: a virtual
// size of at most 2040 GiB keeps room for the tables.
constexpr uint64_t kVmdkMaxSize = 2040 * kGiB;

std::string Descriptor(const Image& raw, const Digest& digest) {
  const auto id = DerivedUuid(digest, "vmdk content id");
  uint32_t cid = GetBe32(reinterpret_cast<const char*>(id.data()));
  if (cid == 0xFFFFFFFF || cid == 0) cid = 1;  // ffffffff means "no parent"
  const uint64_t sectors = raw.size / kSector;
  // IDE geometry, as qemu-img and VMware write it for an "ide" adapter.
  const uint64_t cylinders = std::clamp<uint64_t>(sectors / (16 * 63), 1, 16383);
  char text[1024];
  std::snprintf(text, sizeof text,
                "# Disk DescriptorFile\n"
                "version=1\n"
                "CID=%08x\n"
                "parentCID=ffffffff\n"
                "createType=\"monolithicSparse\"\n"
                "\n"
                "# Extent description\n"
                "RW %llu SPARSE \"config-drive.vmdk\"\n"
                "\n"
                "# The Disk Data Base\n"
                "#DDB\n"
                "\n"
                "ddb.virtualHWVersion = \"4\"\n"
                "ddb.geometry.cylinders = \"%llu\"\n"
                "ddb.geometry.heads = \"16\"\n"
                "ddb.geometry.sectors = \"63\"\n"
                "ddb.adapterType = \"ide\"\n",
                cid, static_cast<unsigned long long>(sectors),
                static_cast<unsigned long long>(cylinders));
  std::string out(text);
  out.resize(kVmdkDescriptorSectors * kSector, '\0');
  return out;
}

}  // namespace

Result<Image> WrapVmdk(const Image& raw) {
  METASTACK_RETURN_IF_ERROR(CheckSectors(raw, DiskFormat::kVmdk));
  if (raw.size > kVmdkMaxSize)
    return std::unexpected(TooLarge(DiskFormat::kVmdk, raw.size,
                                    "a monolithicSparse VMDK holds at most 2040 GiB here (its "
                                    "offsets are 32-bit sector numbers)"));
  const uint64_t sectors = raw.size / kSector;
  const uint64_t tables =
      (sectors + kVmdkGtes * kVmdkGrainSectors - 1) / (kVmdkGtes * kVmdkGrainSectors);
  const uint64_t gd_sectors = (tables * 4 + kSector - 1) / kSector;
  const uint64_t rgd_at = kVmdkDescriptorAt + kVmdkDescriptorSectors;
  const uint64_t gd_at = rgd_at + gd_sectors + tables * kVmdkGtSectors;
  const uint64_t end_of_tables = gd_at + gd_sectors + tables * kVmdkGtSectors;
  const uint64_t overhead =
      (end_of_tables + kVmdkGrainSectors - 1) / kVmdkGrainSectors * kVmdkGrainSectors;
  const std::vector<uint64_t> used = UsedUnits(raw, kVmdkGrain);

  std::string header(kSector, '\0');
  char* h = header.data();
  std::copy_n("KDMV", 4, h);
  PutLe32(h + 4, 1);    // version
  PutLe32(h + 8, 0x3);  // flags: valid new-line test, redundant grain table
  PutLe64(h + 12, sectors);
  PutLe64(h + 20, kVmdkGrainSectors);
  PutLe64(h + 28, kVmdkDescriptorAt);
  PutLe64(h + 36, kVmdkDescriptorSectors);
  PutLe32(h + 44, kVmdkGtes);
  PutLe64(h + 48, rgd_at);
  PutLe64(h + 56, gd_at);
  PutLe64(h + 64, overhead);
  h[72] = 0;  // clean shutdown
  h[73] = '\n';
  h[74] = ' ';
  h[75] = '\r';
  h[76] = '\n';
  ContainerBuilder out;
  out.Put(0, std::move(header));
  out.Put(kVmdkDescriptorAt * kSector, Descriptor(raw, ContentDigest(raw)));

  // Both grain directories list every grain table; the tables follow their directory.
  for (uint64_t dir : {rgd_at, gd_at}) {
    std::string gd(gd_sectors * kSector, '\0');
    for (uint64_t t = 0; t < tables; ++t)
      PutLe32(&gd[t * 4], static_cast<uint32_t>(dir + gd_sectors + t * kVmdkGtSectors));
    out.Put(dir * kSector, std::move(gd));
  }
  RawReader reader(raw);
  for (size_t i = 0; i < used.size();) {
    const uint64_t table = used[i] / kVmdkGtes;
    std::string gt(kVmdkGtSectors * kSector, '\0');
    for (; i < used.size() && used[i] / kVmdkGtes == table; ++i) {
      const uint64_t at = overhead + i * kVmdkGrainSectors;
      PutLe32(&gt[used[i] % kVmdkGtes * 4], static_cast<uint32_t>(at));
      out.Put(at * kSector, reader.Bytes(used[i] * kVmdkGrain, kVmdkGrain));
    }
    for (uint64_t dir : {rgd_at, gd_at})
      out.Put((dir + gd_sectors + table * kVmdkGtSectors) * kSector, gt);
  }
  return std::move(out).Finish((overhead + used.size() * kVmdkGrainSectors) * kSector);
}

}  // namespace metastack::configdrive::disk
