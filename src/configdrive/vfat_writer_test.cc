// The VFAT writer, read back by the guest's FAT reader (guest/fat.h: CheckFat lists every file
// and every structural fault). (fsck.fat, mtools, blkid and a real kernel read the images in
// tests/integration/test_configdrive_images.py.)
#include "configdrive/vfat_writer.h"

#include <gtest/gtest.h>

#include <map>

#include "configdrive/test_image_source.h"
#include "configdrive/test_util.h"
#include "configdrive/vfat_names.h"
#include "guest/drive_fs.h"

namespace metastack::configdrive {
namespace {

using guest::Le16;
using guest::Le32;
using testing::ImageBytes;

uint32_t Get16(const std::string& s, size_t at) { return Le16(s, at); }
uint32_t Get32(const std::string& s, size_t at) { return Le32(s, at); }

std::unique_ptr<guest::FatVolume> Fat(Image image) {
  auto fat = testing::OpenFat(std::move(image));
  EXPECT_TRUE(fat) << fat.error().ToString();
  return fat ? std::move(*fat) : nullptr;
}

Image BuildImage(uint64_t size, const std::vector<core::DriveFile>& files,
                 int64_t timestamp = testing::kCreatedAt) {
  VfatOptions o;
  o.size_bytes = size;
  o.image.timestamp = timestamp;
  auto w = VfatWriter::Create(o);
  EXPECT_TRUE(w);
  auto image = (*w)->Build(files);
  EXPECT_TRUE(image) << (image ? "" : image.error().ToString());
  return image ? std::move(*image) : Image{};
}

class VfatRoundTrip : public ::testing::TestWithParam<std::pair<uint64_t, int>> {};

TEST_P(VfatRoundTrip, EveryFileReadsBackUnderItsLongName) {
  auto [mib, want_bits] = GetParam();
  auto files = testing::ExampleFiles();
  files.push_back({"openstack/content/big", std::string(300000, 'z')});  // a long chain
  auto fat = Fat(BuildImage(mib << 20, files));
  ASSERT_TRUE(fat);
  EXPECT_EQ(fat->bits(), want_bits);
  std::map<std::string, std::string> want;
  for (const auto& f : files) want[f.path] = f.contents;
  guest::FatCheck check = guest::CheckFat(*fat);
  EXPECT_EQ(check.files, want);
  EXPECT_EQ(check.problems, std::vector<std::string>{});
  EXPECT_EQ(fat->Label().label, "config-2");
}

INSTANTIATE_TEST_SUITE_P(Sizes, VfatRoundTrip,
                         ::testing::Values(std::pair<uint64_t, int>{1, 12},
                                           std::pair<uint64_t, int>{64, 16},
                                           std::pair<uint64_t, int>{600, 32}),
                         [](const auto& info) { return "MiB" + std::to_string(info.param.first); });

TEST(FatGeometry, SixtyFourMiBIsNovasFat16) {
  auto g = ChooseFatGeometry(kDefaultVfatBytes);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->fat_bits, 16);
  EXPECT_EQ(g->sectors_per_cluster, 4u);
  EXPECT_EQ(g->fat_sectors, 128u);
  EXPECT_EQ(g->cluster_count, 32695u);
}

TEST(FatGeometry, TheTypeAlwaysAgreesWithTheClusterCount) {
  for (uint64_t mib = 1; mib <= 1100; ++mib) {
    auto g = ChooseFatGeometry(mib << 20);
    ASSERT_TRUE(g) << mib;
    uint32_t c = g->cluster_count;
    switch (g->fat_bits) {
      case 12:
        EXPECT_LE(c, 4084u) << mib;
        break;
      case 16:
        EXPECT_TRUE(c >= 4085 && c <= 65524) << mib << " MiB: " << c;
        break;
      default:
        EXPECT_GE(c, 65525u) << mib;
        break;
    }
    // The FAT describes every cluster, and everything fits in the image.
    EXPECT_GE(uint64_t{g->fat_sectors} * 512 * 8 / g->fat_bits, uint64_t{c} + 2) << mib;
    EXPECT_LE(uint64_t{g->DataStartSector()} + uint64_t{c} * g->sectors_per_cluster,
              g->total_sectors);
  }
  EXPECT_EQ(ChooseFatGeometry(512 << 20)->fat_bits, 16);
  EXPECT_EQ(ChooseFatGeometry(513 << 20)->fat_bits, 32);
}

TEST(FatGeometry, SizesOutOfRangeAreRefused) {
  for (uint64_t size : {uint64_t{0}, uint64_t{512} << 10, (uint64_t{32} << 30) + 512}) {
    auto g = ChooseFatGeometry(size);
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().ToString(), "image size must be between 1 MiB and 32 GiB");
  }
}

TEST(VfatWriter, BootSectorCarriesLabelTypeAndSignature) {
  Image image = BuildImage(kDefaultVfatBytes, testing::ExampleFiles());
  EXPECT_EQ(image.size, kDefaultVfatBytes);
  std::string img = ImageBytes(image, 0, 512);
  EXPECT_EQ(img.substr(3, 8), "MSWIN4.1");
  EXPECT_EQ(static_cast<uint8_t>(img[38]), 0x29);
  EXPECT_EQ(img.substr(43, 11), "config-2   ");
  EXPECT_EQ(img.substr(54, 8), "FAT16   ");
  EXPECT_EQ(img.substr(510, 2), "\x55\xAA");
  Image image32 = BuildImage(600 << 20, testing::ExampleFiles());
  std::string fat32 = ImageBytes(image32, 0, 8 * 512);
  auto r = Fat(image32);
  ASSERT_TRUE(r);
  EXPECT_EQ(fat32.substr(71, 11), "config-2   ");
  EXPECT_EQ(fat32.substr(82, 8), "FAT32   ");
  EXPECT_EQ(fat32.substr(6 * 512, 512), fat32.substr(0, 512));  // backup boot sector
  uint32_t used = 0;
  for (uint32_t c = 2; c < r->cluster_count() + 2; ++c) used += r->Next(c).value() != 0;
  EXPECT_GT(used, 0u);
  EXPECT_EQ(Get32(fat32, 512 + 488), r->cluster_count() - used);  // FSInfo: free clusters
  EXPECT_EQ(Get32(fat32, 512 + 492), used + 2);                   // and the next free one
}

TEST(VfatWriter, SerialNumberFollowsTheContent) {
  auto files = testing::ExampleFiles();
  auto serial = [&] { return Get32(ImageBytes(BuildImage(kDefaultVfatBytes, files), 0, 64), 39); };
  uint32_t a = serial();
  EXPECT_EQ(serial(), a);
  files.back().contents += "!";
  EXPECT_NE(serial(), a);
}

TEST(VfatWriter, EveryTimeFieldIsTheGivenTime) {
  Image image = BuildImage(kDefaultVfatBytes, {{"f", "x"}});
  auto r = Fat(image);
  ASSERT_TRUE(r);
  const uint64_t root_at = (uint64_t{r->reserved_sectors()} + 2 * r->fat_sectors()) * 512;
  std::string img = ImageBytes(image, root_at, 96);
  const size_t root = 0;
  // Entry 0: the label; entry 1: f's LFN; entry 2: "F".
  for (size_t e : {root, root + 64}) {
    EXPECT_EQ(static_cast<uint8_t>(img[e + 13]), 100) << e;  // 07:08:09 is 07:08:08 + 1 s
    EXPECT_EQ(Get16(img, e + 14), (7u << 11) | (8u << 5) | 4u) << e;
    EXPECT_EQ(Get16(img, e + 16), (44u << 9) | (5u << 5) | 6u) << e;  // 2024-05-06
    EXPECT_EQ(Get16(img, e + 18), (44u << 9) | (5u << 5) | 6u) << e;
    EXPECT_EQ(Get16(img, e + 22), (7u << 11) | (8u << 5) | 4u) << e;
    EXPECT_EQ(Get16(img, e + 24), (44u << 9) | (5u << 5) | 6u) << e;
  }
  // Before 1980 there is no FAT time: clamped to its epoch.
  std::string old = ImageBytes(BuildImage(kDefaultVfatBytes, {{"f", "x"}}, 0), root_at, 96);
  EXPECT_EQ(Get16(old, root + 64 + 24), (0u << 9) | (1u << 5) | 1u);
  EXPECT_EQ(Get16(old, root + 64 + 22), 0u);
}

TEST(VfatWriter, LabelsAreChecked) {
  VfatOptions o;
  o.image.label = "much-too-long";
  auto w = VfatWriter::Create(o);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().ToString(), "label: a FAT label has 1 to 11 characters");
  o.image.label = "a/b";
  w = VfatWriter::Create(o);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().ToString(), "label: character not allowed in a FAT label");
  o.image.label = "cidata";
  ASSERT_TRUE(VfatWriter::Create(o));
}

TEST(VfatWriter, EmptyFilesHaveNoClusters) {
  auto r = Fat(BuildImage(kMinVfatBytes, {{"empty", ""}, {"d/also-empty", ""}}));
  ASSERT_TRUE(r);
  auto check = guest::CheckFat(*r);
  EXPECT_EQ(check.files, (std::map<std::string, std::string>{{"d/also-empty", ""}, {"empty", ""}}));
  EXPECT_EQ(check.directories, std::vector<std::string>{"d"});
  EXPECT_EQ(check.problems, std::vector<std::string>{});
  auto root = r->ListAll(r->Root());
  ASSERT_TRUE(root);
  EXPECT_EQ(root->back().location, 0u);  // "empty": no cluster
}

}  // namespace
}  // namespace metastack::configdrive
