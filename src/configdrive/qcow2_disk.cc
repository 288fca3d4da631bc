// qcow2 version 3 (QEMU's docs/interop/qcow2.txt): 64 KiB clusters (cluster_bits 16), 16-bit
// refcounts (refcount_order 4), no backing file, compression, encryption or snapshots.
//
// Layout, in clusters: the header (with the header-extension end marker), the refcount table,
// the refcount blocks, the L1 table, one L2 table for each 512 MiB of the disk that holds data,
// then the data clusters in disk order. Every cluster of the file has refcount 1 and every L1
// and L2 entry carries QCOW_OFLAG_COPIED, so `qemu-img check` finds no error and no leak.
#include <algorithm>

#include "configdrive/byte_order.h"
#include "configdrive/disk_container.h"

namespace metastack::configdrive::disk {
namespace {

constexpr uint32_t kQcow2ClusterBits = 16;
constexpr uint64_t kQcow2Cluster = uint64_t{1} << kQcow2ClusterBits;
constexpr uint64_t kQcow2L2Entries = kQcow2Cluster / 8;
constexpr uint64_t kQcow2L2Span = kQcow2L2Entries * kQcow2Cluster;  // 512 MiB
constexpr uint32_t kQcow2RefcountOrder = 4;                         // 16-bit refcounts
constexpr uint64_t kQcow2RefcountsPerBlock = kQcow2Cluster / 2;
constexpr uint64_t kQcow2Copied = uint64_t{1} << 63;
constexpr uint32_t kQcow2HeaderLength = 104;
// QEMU refuses an L1 table over 32 MiB (QCOW_MAX_L1_SIZE): 4 Mi entries of 512 MiB each.
constexpr uint64_t kQcow2MaxL1Entries = (uint64_t{32} << 20) / 8;

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

Result<Image> WrapQcow2(const Image& raw) {
  METASTACK_RETURN_IF_ERROR(CheckSectors(raw, DiskFormat::kQcow2));
  const uint64_t l1_entries = CeilDiv(raw.size, kQcow2L2Span);
  if (l1_entries > kQcow2MaxL1Entries)
    return std::unexpected(TooLarge(DiskFormat::kQcow2, raw.size,
                                    "QEMU opens a qcow2 image of at most 2 PiB (a 32 MiB L1 "
                                    "table at 64 KiB clusters)"));
  const std::vector<uint64_t> data = UsedUnits(raw, kQcow2Cluster);
  std::vector<uint64_t> l2_of;  // the L1 index of each L2 table, ascending
  for (uint64_t c : data)
    if (l2_of.empty() || l2_of.back() != c / kQcow2L2Entries) l2_of.push_back(c / kQcow2L2Entries);

  const uint64_t l1_clusters = CeilDiv(l1_entries * 8, kQcow2Cluster);
  const uint64_t fixed = 1 + l1_clusters + l2_of.size() + data.size();
  // The refcount blocks count themselves and the table that lists them: grow to a fixed point.
  uint64_t blocks = 0, table = 0;
  for (;;) {
    uint64_t total = fixed + table + blocks;
    uint64_t need_blocks = CeilDiv(total, kQcow2RefcountsPerBlock);
    uint64_t need_table = CeilDiv(need_blocks * 8, kQcow2Cluster);
    if (need_blocks == blocks && need_table == table) break;
    blocks = need_blocks;
    table = need_table;
  }
  const uint64_t total = fixed + table + blocks;
  const uint64_t table_at = 1;
  const uint64_t blocks_at = table_at + table;
  const uint64_t l1_at = blocks_at + blocks;
  const uint64_t l2_at = l1_at + l1_clusters;
  const uint64_t data_at = l2_at + l2_of.size();

  ContainerBuilder out;
  std::string header(kQcow2HeaderLength + 8, '\0');  // + the end of header extensions
  char* h = header.data();
  PutBe32(h + 0, 0x514649FB);  // "QFI\xfb"
  PutBe32(h + 4, 3);
  PutBe32(h + 20, kQcow2ClusterBits);
  PutBe64(h + 24, raw.size);
  PutBe32(h + 36, static_cast<uint32_t>(l1_entries));
  PutBe64(h + 40, l1_at * kQcow2Cluster);
  PutBe64(h + 48, table_at * kQcow2Cluster);
  PutBe32(h + 56, static_cast<uint32_t>(table));
  PutBe32(h + 96, kQcow2RefcountOrder);
  PutBe32(h + 100, kQcow2HeaderLength);
  out.Put(0, std::move(header));

  std::string refcount_table(table * kQcow2Cluster, '\0');
  for (uint64_t b = 0; b < blocks; ++b)
    PutBe64(&refcount_table[b * 8], (blocks_at + b) * kQcow2Cluster);
  out.Put(table_at * kQcow2Cluster, std::move(refcount_table));
  for (uint64_t b = 0; b < blocks; ++b) {
    std::string block(kQcow2Cluster, '\0');
    const uint64_t first = b * kQcow2RefcountsPerBlock;
    const uint64_t n = std::min(kQcow2RefcountsPerBlock, total - first);
    for (uint64_t i = 0; i < n; ++i) PutBe16(&block[i * 2], 1);
    out.Put((blocks_at + b) * kQcow2Cluster, std::move(block));
  }

  // The L1 table: written in clusters, only those that point somewhere (the rest are holes).
  for (size_t i = 0; i < l2_of.size();) {
    const uint64_t cluster = l2_of[i] * 8 / kQcow2Cluster;
    std::string l1(kQcow2Cluster, '\0');
    for (; i < l2_of.size() && l2_of[i] * 8 / kQcow2Cluster == cluster; ++i)
      PutBe64(&l1[l2_of[i] * 8 % kQcow2Cluster], (l2_at + i) * kQcow2Cluster | kQcow2Copied);
    out.Put((l1_at + cluster) * kQcow2Cluster, std::move(l1));
  }

  RawReader reader(raw);
  size_t d = 0;
  for (size_t t = 0; t < l2_of.size(); ++t) {
    std::string l2(kQcow2Cluster, '\0');
    for (; d < data.size() && data[d] / kQcow2L2Entries == l2_of[t]; ++d) {
      const uint64_t at = (data_at + d) * kQcow2Cluster;
      PutBe64(&l2[data[d] % kQcow2L2Entries * 8], at | kQcow2Copied);
      out.Put(at, reader.Bytes(data[d] * kQcow2Cluster, kQcow2Cluster));
    }
    out.Put((l2_at + t) * kQcow2Cluster, std::move(l2));
  }
  return std::move(out).Finish(total * kQcow2Cluster);
}

}  // namespace metastack::configdrive::disk
