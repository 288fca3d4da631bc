#pragma once
// Readers of the disk containers WrapDisk writes, for its tests: each parses a container as its
// format's specification describes it (not as disk_image.cc's writers lay it out), checks the
// fixed fields and checksums with gtest expectations, walks the allocation tables and returns
// the virtual disk it describes: size, and one extent per stored allocation unit. Written apart
// from the writers so that a writer's mistake is not repeated here.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "configdrive/byte_order.h"
#include "configdrive/image_writer.h"
#include "configdrive/test_image_source.h"

namespace metastack::configdrive::testing {

inline std::string At(const Image& file, uint64_t offset, uint64_t length) {
  EXPECT_LE(offset + length, file.size) << "a structure past the end of the file";
  return ImageBytes(file, offset, length);
}

// CRC-32C, bit by bit (the writer uses a table).
inline uint32_t BitwiseCrc32c(std::string s) {
  uint32_t c = 0xFFFFFFFF;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78 & (0 - (c & 1)));
  }
  return ~c;
}

// --- qcow2 (QEMU's docs/interop/qcow2.txt) ---------------------------------------------------
inline Image ReadQcow2(const Image& file) {
  const std::string h = At(file, 0, 112);
  EXPECT_EQ(h.substr(0, 4), "QFI\xfb");
  EXPECT_EQ(GetBe32(&h[4]), 3u);  // version
  EXPECT_EQ(GetBe64(&h[8]), 0u);  // no backing file
  const uint32_t bits = GetBe32(&h[20]);
  EXPECT_EQ(bits, 16u);
  EXPECT_EQ(GetBe32(&h[32]), 0u);                     // no encryption
  EXPECT_EQ(GetBe32(&h[60]), 0u);                     // no snapshots
  EXPECT_EQ(GetBe64(&h[72]), 0u);                     // incompatible features
  EXPECT_EQ(GetBe32(&h[96]), 4u);                     // refcount_order: 16 bits
  EXPECT_EQ(GetBe32(&h[100]), 104u);                  // header length
  EXPECT_EQ(h.substr(104, 8), std::string(8, '\0'));  // end of header extensions
  const uint64_t cluster = uint64_t{1} << bits;
  const uint64_t l2_entries = cluster / 8;
  Image disk;
  disk.size = GetBe64(&h[24]);
  const uint64_t l1_size = GetBe32(&h[36]);
  EXPECT_EQ(l1_size, (disk.size + l2_entries * cluster - 1) / (l2_entries * cluster));
  const uint64_t l1_at = GetBe64(&h[40]);
  const uint64_t rt_at = GetBe64(&h[48]);
  const uint64_t rt_clusters = GetBe32(&h[56]);
  EXPECT_EQ(file.size % cluster, 0u);
  // How many times each cluster of the file is in use: to compare with the refcounts.
  std::vector<int> uses(file.size / cluster, 0);
  auto use = [&](uint64_t offset, uint64_t n) {
    EXPECT_EQ(offset % cluster, 0u);
    for (uint64_t c = offset / cluster; c < offset / cluster + n; ++c) {
      EXPECT_LT(c, uses.size());
      if (c < uses.size()) ++uses[c];
    }
  };
  use(0, 1);
  use(rt_at, rt_clusters);
  use(l1_at, (l1_size * 8 + cluster - 1) / cluster);
  const std::string l1 = At(file, l1_at, l1_size * 8);
  constexpr uint64_t kCopied = uint64_t{1} << 63, kOffset = 0x00FFFFFFFFFFFE00;
  for (uint64_t i = 0; i < l1_size; ++i) {
    const uint64_t e = GetBe64(&l1[i * 8]);
    if (e == 0) continue;
    EXPECT_EQ(e & ~kOffset, kCopied) << "L1 entry " << i;
    use(e & kOffset, 1);
    const std::string l2 = At(file, e & kOffset, cluster);
    for (uint64_t j = 0; j < l2_entries; ++j) {
      const uint64_t d = GetBe64(&l2[j * 8]);
      if (d == 0) continue;
      EXPECT_EQ(d & ~kOffset, kCopied) << "L2 entry " << j;  // standard, not compressed
      use(d & kOffset, 1);
      const uint64_t virt = (i * l2_entries + j) * cluster;
      EXPECT_LT(virt, disk.size);
      disk.extents.push_back({virt, At(file, d & kOffset, cluster)});
    }
  }
  const std::string rt = At(file, rt_at, rt_clusters * cluster);
  std::vector<int> counted(uses.size(), 0);
  for (uint64_t b = 0; b < rt_clusters * cluster / 8; ++b) {
    const uint64_t block_at = GetBe64(&rt[b * 8]);
    if (block_at == 0) continue;
    use(block_at, 1);
    const std::string block = At(file, block_at, cluster);
    for (uint64_t k = 0; k < cluster / 2; ++k) {
      const uint64_t c = b * (cluster / 2) + k;
      const uint32_t refcount = GetBe16(&block[k * 2]);
      if (c < counted.size())
        counted[c] = static_cast<int>(refcount);
      else
        EXPECT_EQ(refcount, 0u) << "refcount past the end of the file, cluster " << c;
    }
  }
  EXPECT_EQ(counted, uses) << "refcounts differ from what the tables use (leak or error)";
  return disk;
}

// --- VHD (Virtual Hard Disk Image Format Specification 1.0) -----------------------------------
inline uint32_t OnesComplementSum(const std::string& s, size_t field) {
  uint32_t sum = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if (i < field || i >= field + 4) sum += static_cast<unsigned char>(s[i]);
  return ~sum;
}

inline Image ReadVhd(const Image& file, uint32_t expect_timestamp) {
  const std::string footer = At(file, file.size - 512, 512);
  EXPECT_EQ(At(file, 0, 512), footer) << "the footer's copy at 0";
  EXPECT_EQ(footer.substr(0, 8), "conectix");
  EXPECT_EQ(GetBe32(&footer[8]), 2u);
  EXPECT_EQ(GetBe32(&footer[12]), 0x00010000u);
  EXPECT_EQ(GetBe32(&footer[24]), expect_timestamp);
  const std::string creator = footer.substr(28, 4);
  for (std::string_view known :
       {std::string_view("win "), std::string_view("qem2"), std::string_view("d2v "),
        std::string_view("CTXS"), std::string_view("tap\0", 4)})
    EXPECT_NE(creator, known) << "a creator QEMU reads the footer's size for";
  EXPECT_EQ(GetBe32(&footer[60]), 3u);  // dynamic
  EXPECT_EQ(GetBe32(&footer[64]), OnesComplementSum(footer, 64));
  Image disk;
  disk.size = GetBe64(&footer[48]);
  EXPECT_EQ(GetBe64(&footer[40]), disk.size);
  // QEMU reads the size from the geometry (but at the largest geometry, 65535 x 16 x 255, from
  // the footer): it must be the footer's.
  const uint64_t chs = uint64_t{GetBe16(&footer[56])} * static_cast<uint8_t>(footer[58]) *
                       static_cast<uint8_t>(footer[59]);
  if (chs != uint64_t{65535} * 16 * 255) {
    EXPECT_EQ(chs * 512, disk.size);
  }
  const uint64_t header_at = GetBe64(&footer[16]);
  const std::string header = At(file, header_at, 1024);
  EXPECT_EQ(header.substr(0, 8), "cxsparse");
  EXPECT_EQ(GetBe64(&header[8]), ~uint64_t{0});
  EXPECT_EQ(GetBe32(&header[24]), 0x00010000u);
  EXPECT_EQ(GetBe32(&header[36]), OnesComplementSum(header, 36));
  const uint64_t bat_at = GetBe64(&header[16]);
  const uint64_t entries = GetBe32(&header[28]);
  const uint64_t block = GetBe32(&header[32]);
  EXPECT_EQ(block, 2u << 20);
  EXPECT_EQ(entries, (disk.size + block - 1) / block);
  const uint64_t bitmap = (block / 512 / 8 + 511) / 512 * 512;
  const std::string bat = At(file, bat_at, entries * 4);
  for (uint64_t i = 0; i < entries; ++i) {
    const uint32_t sector = GetBe32(&bat[i * 4]);
    if (sector == 0xFFFFFFFF) continue;
    EXPECT_EQ(At(file, uint64_t{sector} * 512, bitmap), std::string(bitmap, '\xFF'));
    disk.extents.push_back({i * block, At(file, uint64_t{sector} * 512 + bitmap, block)});
  }
  return disk;
}

// --- VHDX ([MS-VHDX]) -------------------------------------------------------------------------
// A GUID from its text form, as [MS-VHDX] stores it (first three fields little-endian).
inline std::string Guid(const char* text) {
  std::string hex;
  for (const char* p = text; *p; ++p)
    if (*p != '-') hex += *p;
  std::string b;
  for (size_t i = 0; i < 32; i += 2)
    b += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  std::swap(b[0], b[3]);
  std::swap(b[1], b[2]);
  std::swap(b[4], b[5]);
  std::swap(b[6], b[7]);
  return b;
}

inline void ExpectCrc32c(std::string s, const char* what) {
  const uint32_t stored = GetLe32(&s[4]);
  s.replace(4, 4, 4, '\0');
  EXPECT_EQ(stored, BitwiseCrc32c(s)) << what;
}

inline Image ReadVhdx(const Image& file) {
  constexpr uint64_t kMiB = 1 << 20;
  EXPECT_EQ(At(file, 0, 8), "vhdxfile");
  uint64_t log_at = 0, log_length = 0, best_seq = 0;
  std::set<uint64_t> seqs;
  for (uint64_t at : {64 * 1024, 128 * 1024}) {
    const std::string h = At(file, at, 4096);
    EXPECT_EQ(h.substr(0, 4), "head");
    ExpectCrc32c(h, "header");
    const uint64_t seq = GetLe64(&h[8]);
    seqs.insert(seq);
    EXPECT_EQ(h.substr(48, 16), std::string(16, '\0')) << "log GUID: nothing to replay";
    EXPECT_EQ(GetLe16(&h[64]), 0u);  // log version
    EXPECT_EQ(GetLe16(&h[66]), 1u);  // version
    if (seq >= best_seq) {
      best_seq = seq;
      log_length = GetLe32(&h[68]);
      log_at = GetLe64(&h[72]);
    }
  }
  EXPECT_EQ(seqs.size(), 2u) << "two headers, two sequence numbers";
  EXPECT_EQ(log_at % kMiB, 0u);
  EXPECT_EQ(log_length, kMiB);
  EXPECT_EQ(At(file, log_at, log_length), std::string(log_length, '\0'));
  const std::string regions = At(file, 192 * 1024, 64 * 1024);
  EXPECT_EQ(At(file, 256 * 1024, 64 * 1024), regions) << "the region table's two copies";
  EXPECT_EQ(regions.substr(0, 4), "regi");
  ExpectCrc32c(regions, "region table");
  uint64_t bat_at = 0, bat_length = 0, meta_at = 0;
  const uint32_t region_count = GetLe32(&regions[8]);
  EXPECT_EQ(region_count, 2u);
  for (uint32_t i = 0; i < region_count && i < 2047; ++i) {
    const char* e = &regions[16 + 32 * i];
    const std::string guid(e, 16);
    EXPECT_EQ(GetLe64(e + 16) % kMiB, 0u);
    EXPECT_EQ(GetLe32(e + 24) % kMiB, 0u);
    EXPECT_EQ(GetLe32(e + 28), 1u);  // required
    if (guid == Guid("2DC27766-F623-4200-9D64-115E9BFD4A08")) {
      bat_at = GetLe64(e + 16);
      bat_length = GetLe32(e + 24);
    } else if (guid == Guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")) {
      meta_at = GetLe64(e + 16);
    } else {
      ADD_FAILURE() << "unknown region";
    }
  }
  const std::string meta = At(file, meta_at, 64 * 1024);
  EXPECT_EQ(meta.substr(0, 8), "metadata");
  std::map<std::string, std::string> items;  // GUID -> value
  for (uint32_t i = 0; i < GetLe16(&meta[10]); ++i) {
    const char* e = &meta[32 + 32 * i];
    const std::string guid(e, 16);
    EXPECT_GE(GetLe32(e + 16), 64u * 1024);
    const bool virtual_disk = GetLe32(e + 24) & 2, required = GetLe32(e + 24) & 4;
    EXPECT_TRUE(required);
    EXPECT_EQ(virtual_disk, guid != Guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B"));
    items[guid] = At(file, meta_at + GetLe32(e + 16), GetLe32(e + 20));
  }
  const std::string params = items[Guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")];
  const std::string size = items[Guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")];
  const std::string page83 = items[Guid("BECA12AB-B2E6-4523-93EF-C309E000C746")];
  const std::string logical = items[Guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")];
  const std::string physical = items[Guid("CDA348C7-445D-4471-9CC9-E9885251C556")];
  EXPECT_EQ(items.size(), 5u);
  EXPECT_EQ(params.size(), 8u);
  EXPECT_EQ(size.size(), 8u);
  EXPECT_EQ(page83.size(), 16u);
  EXPECT_EQ(logical.size(), 4u);
  EXPECT_EQ(physical.size(), 4u);
  Image disk;
  if (params.size() != 8 || size.size() != 8 || logical.size() != 4) return disk;
  const uint64_t block = GetLe32(&params[0]);
  EXPECT_EQ(GetLe32(&params[4]), 0u) << "dynamic, no parent";
  EXPECT_EQ(block, kMiB);
  disk.size = GetLe64(&size[0]);
  EXPECT_EQ(GetLe32(&logical[0]), 512u);
  EXPECT_EQ(GetLe32(&physical[0]), 4096u);
  const uint64_t chunk_ratio = (uint64_t{1} << 23) * 512 / block;
  const uint64_t blocks = (disk.size + block - 1) / block;
  const uint64_t entries = blocks + (blocks - 1) / chunk_ratio;
  EXPECT_GE(bat_length, entries * 8);
  const std::string bat = At(file, bat_at, entries * 8);
  for (uint64_t i = 0; i < entries; ++i) {
    const uint64_t e = GetLe64(&bat[i * 8]);
    if ((i + 1) % (chunk_ratio + 1) == 0) {
      EXPECT_EQ(e, 0u) << "sector bitmap entry " << i << ": SB_BLOCK_NOT_PRESENT";
      continue;
    }
    const uint64_t payload = i - i / (chunk_ratio + 1);
    if (e == 0) continue;  // PAYLOAD_BLOCK_NOT_PRESENT
    EXPECT_EQ(e & 0xFFFFF, 6u) << "BAT entry " << i << ": PAYLOAD_BLOCK_FULLY_PRESENT";
    disk.extents.push_back({payload * block, At(file, (e >> 20) * kMiB, block)});
  }
  return disk;
}

// --- VMDK (VMware's Virtual Disk Format 5.0, hosted sparse extent) ----------------------------
inline Image ReadVmdk(const Image& file) {
  const std::string h = At(file, 0, 512);
  EXPECT_EQ(h.substr(0, 4), "KDMV");
  EXPECT_EQ(GetLe32(&h[4]), 1u);
  EXPECT_EQ(GetLe32(&h[8]), 3u);  // new-line test, redundant grain table
  Image disk;
  disk.size = GetLe64(&h[12]) * 512;
  const uint64_t grain = GetLe64(&h[20]);
  EXPECT_EQ(grain, 128u);
  const uint64_t gtes = GetLe32(&h[44]);
  EXPECT_EQ(gtes, 512u);
  EXPECT_EQ(h.substr(73, 4), "\n \r\n");
  EXPECT_EQ(GetLe16(&h[77]), 0u);  // not compressed
  const std::string desc = At(file, GetLe64(&h[28]) * 512, GetLe64(&h[36]) * 512);
  EXPECT_EQ(desc.rfind("# Disk DescriptorFile\nversion=1\nCID=", 0), 0u) << desc;
  EXPECT_NE(desc.find("\nparentCID=ffffffff\n"), std::string::npos);
  EXPECT_NE(desc.find("\ncreateType=\"monolithicSparse\"\n"), std::string::npos);
  EXPECT_NE(desc.find("\nRW " + std::to_string(disk.size / 512) + " SPARSE \""), std::string::npos);
  const uint64_t tables = (disk.size / 512 + gtes * grain - 1) / (gtes * grain);
  const std::string rgd = At(file, GetLe64(&h[48]) * 512, tables * 4);
  const std::string gd = At(file, GetLe64(&h[56]) * 512, tables * 4);
  const uint64_t overhead = GetLe64(&h[64]);
  for (uint64_t t = 0; t < tables; ++t) {
    const std::string gt = At(file, uint64_t{GetLe32(&gd[t * 4])} * 512, gtes * 4);
    EXPECT_EQ(At(file, uint64_t{GetLe32(&rgd[t * 4])} * 512, gtes * 4), gt)
        << "the redundant grain table " << t;
    for (uint64_t g = 0; g < gtes; ++g) {
      const uint64_t sector = GetLe32(&gt[g * 4]);
      if (sector == 0) continue;
      EXPECT_GE(sector, overhead);
      disk.extents.push_back({(t * gtes + g) * grain * 512, At(file, sector * 512, grain * 512)});
    }
  }
  return disk;
}

}  // namespace metastack::configdrive::testing
