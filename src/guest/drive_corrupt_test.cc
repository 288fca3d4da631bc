// Hostile and damaged images: each fault is refused with an error that names the image and
// says what is wrong; nothing reads out of bounds (the asan build checks that too).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "guest/drive_fs.h"
#include "guest/fat.h"
#include "guest/test_drive_images.h"

namespace metastack::guest {
namespace {

std::string OurImage(bool iso, const std::vector<core::DriveFile>& files = fakes::DriveFiles()) {
  configdrive::ImageOptions o;
  if (iso) return configdrive::IsoWriter(o).Build(files)->Flatten();
  configdrive::VfatOptions v;
  v.size_bytes = uint64_t{16} << 20;  // FAT16
  return (*configdrive::VfatWriter::Create(v))->Build(files)->Flatten();
}

std::unique_ptr<DriveFs> Open(std::string bytes) {
  auto fs = OpenDriveFs(MemoryImage("img", std::move(bytes)));
  EXPECT_TRUE(fs) << fs.error().ToString();
  return fs ? std::move(*fs) : nullptr;
}

// The entry at `path` (its location and size).
DriveEntry Entry(DriveFs& fs, std::string_view path) {
  DriveEntry at = fs.Root();
  for (size_t from = 0; from <= path.size();) {
    size_t end = std::min(path.find('/', from), path.size());
    auto entries = fs.List(at);
    EXPECT_TRUE(entries);
    for (auto& e : *entries)
      if (e.name == path.substr(from, end - from)) at = e;
    from = end + 1;
  }
  return at;
}

size_t FindOnce(const std::string& image, std::string_view needle) {
  size_t at = image.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  EXPECT_EQ(image.find(needle, at + 1), std::string::npos) << needle;
  return at;
}

void Put16(std::string& s, size_t at, uint32_t v) {
  s[at] = static_cast<char>(v);
  s[at + 1] = static_cast<char>(v >> 8);
}
void Put32(std::string& s, size_t at, uint32_t v) {
  Put16(s, at, v & 0xFFFF);
  Put16(s, at + 2, v >> 16);
}
// ISO 9660's both-endian 32-bit field.
void PutBoth32(std::string& s, size_t at, uint32_t v) {
  Put32(s, at, v);
  for (int i = 0; i < 4; ++i) s[at + 4 + i] = static_cast<char>(v >> (24 - 8 * i));
}

// Where the Joliet directory record named `name` starts.
size_t JolietRecord(const std::string& image, std::string_view name) {
  std::string ucs2 = std::string(1, static_cast<char>(name.size() * 2));
  for (char c : name) ucs2 += std::string(1, '\0') + c;
  return FindOnce(image, ucs2) - 32;
}

// The fixed part of our FAT16 image's directory entry for the 8.3 name `short_name`.
size_t FatEntry(const std::string& image, std::string_view short_name) {
  return FindOnce(image, short_name);
}

constexpr std::string_view kMeta = "openstack/latest/meta_data.json";
constexpr std::string_view kContent = "openstack/content/0000";

std::string Error(DriveFs& fs, std::string_view path) {
  auto r = ReadDrivePath(fs, path);
  return r ? "no error" : r.error().ToString();
}

std::string ListError(DriveFs& fs) {
  auto r = ListDriveFiles(fs);
  return r ? "no error" : r.error().ToString();
}

TEST(CorruptDrive, TruncatedIsoSaysWhereItEnds) {
  std::string iso = OurImage(true);
  auto fs = Open(iso.substr(0, 19 * 2048));  // the volume descriptors and no more
  ASSERT_TRUE(fs);
  EXPECT_EQ(fs->Label().label, "config-2");
  EXPECT_EQ(Error(*fs, kMeta), "img: image truncated: bytes 65536..67584 of 38912");
  auto not_iso = OpenDriveFs(MemoryImage("img", iso.substr(0, 16 * 2048 + 100)));
  ASSERT_TRUE(not_iso);
  EXPECT_EQ(*not_iso, nullptr);
}

TEST(CorruptDrive, TruncatedFatSaysWhereItEnds) {
  std::string fat = OurImage(false);
  auto fs = Open(fat.substr(0, 64 << 10));  // boot sector, FATs and root directory
  ASSERT_TRUE(fs);
  EXPECT_EQ(fs->Label().label, "config-2");
  EXPECT_EQ(Error(*fs, kContent), "img: image truncated: bytes 64000..66048 of 65536");
  auto too_short = OpenDriveFs(MemoryImage("img", fat.substr(0, 20 << 10)));
  ASSERT_FALSE(too_short);
  EXPECT_EQ(too_short.error().ToString(), "img: image truncated: bytes 33280..49664 of 20480");
  auto not_fat = OpenDriveFs(MemoryImage("img", fat.substr(0, 300)));
  ASSERT_TRUE(not_fat);
  EXPECT_EQ(*not_fat, nullptr);
}

TEST(CorruptDrive, FatDirectoryLoop) {
  std::string fat = OurImage(false);
  uint32_t parent = Entry(*Open(fat), "openstack").location;
  Put16(fat, FatEntry(fat, "LATEST     ") + 26, parent);  // latest is openstack again
  auto fs = Open(fat);
  EXPECT_EQ(ListError(*fs), "img: openstack/latest/: directory loop (its data is listed twice)");
  auto check = CheckFat(static_cast<FatVolume&>(*fs));
  ASSERT_FALSE(check.problems.empty());
  EXPECT_EQ(check.problems[0], "openstack/latest/..: points to 0");
}

TEST(CorruptDrive, IsoDirectoryLoop) {
  std::string iso = OurImage(true);
  uint32_t parent = Entry(*Open(iso), "openstack").location;
  PutBoth32(iso, JolietRecord(iso, "latest") + 2, parent);
  EXPECT_EQ(ListError(*Open(iso)),
            "img: openstack/latest/: directory loop (its data is listed twice)");
}

TEST(CorruptDrive, FatChainOutOfRangeOrLooping) {
  std::string fat = OurImage(false);
  auto fs = Open(fat);
  uint32_t first = Entry(*fs, kContent).location;
  auto* volume = static_cast<FatVolume*>(fs.get());
  size_t fat_at = volume->reserved_sectors() * 512;
  std::string out_of_range = fat;
  Put16(out_of_range, fat_at + first * 2, 0xFFF0);
  EXPECT_EQ(Error(*Open(out_of_range), kContent),
            "img: openstack/content/0000: vfat: the cluster chain from " + std::to_string(first) +
                " leaves the data area at 65520");
  std::string loop = fat;
  Put16(loop, fat_at + (first + 3) * 2, first + 1);
  EXPECT_EQ(Error(*Open(loop), kContent),
            "img: openstack/content/0000: vfat: the cluster chain from " + std::to_string(first) +
                " loops at cluster " + std::to_string(first + 1));
  std::string short_chain = fat;
  Put16(short_chain, fat_at + (first + 3) * 2, 0xFFFF);
  EXPECT_EQ(Error(*Open(short_chain), kContent),
            "img: openstack/content/0000: vfat: the cluster chain from " + std::to_string(first) +
                " ends after 4 of the 49 clusters its file needs");
  std::string bad_root = fat;
  Put16(bad_root, 17, 0);  // no root directory entries
  auto no_root = OpenDriveFs(MemoryImage("img", bad_root));
  ASSERT_FALSE(no_root);
  EXPECT_EQ(no_root.error().ToString(), "img: vfat: the boot sector gives no root directory");
}

TEST(FatLabel, TheRootEntryWinsOverTheBootSectorAsInBlkid) {
  std::string fat = OurImage(false);
  auto fs = Open(fat);
  auto* volume = static_cast<FatVolume*>(fs.get());
  size_t root = (volume->reserved_sectors() + 2 * volume->fat_sectors()) * 512;
  ASSERT_EQ(fat.substr(root, 12), "config-2   \x08");
  fat.replace(root, 11, "ROOT LABEL ");
  EXPECT_EQ(Open(fat)->Label().label, "ROOT LABEL");
  fat[root] = static_cast<char>(0xE5);  // deleted: the boot sector's label counts
  fat.replace(0x2B, 11, "BOOT       ");
  EXPECT_EQ(Open(fat)->Label().label, "BOOT");
  fat.replace(0x2B, 11, "NO NAME    ");
  EXPECT_EQ(Open(fat)->Label().label, "");
}

TEST(CorruptDrive, FilesOverSixtyFourMiBAreRefusedUnread) {
  std::string fat = OurImage(false);
  Put32(fat, FatEntry(fat, "0000       ") + 28, 80 << 20);
  auto r = ReadDrivePath(*Open(fat), kContent);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(
      r.error().ToString(),
      "img: openstack/content/0000: 83886080 bytes, more than the 64 MiB a drive file may have");
}

TEST(CorruptDrive, IsoRecordsMultiExtentAndBadRecords) {
  std::string iso = OurImage(true);
  std::string multi = iso;
  multi[JolietRecord(iso, "0000") + 25] |= 0x80;
  EXPECT_EQ(Error(*Open(multi), kContent),
            "img: openstack/content/0000: iso9660: multi-extent files are not supported");
  std::string bad = iso;
  uint32_t content = Entry(*Open(iso), "openstack/content").location;
  bad[content * 2048] = 20;  // "." shorter than any record
  EXPECT_EQ(Error(*Open(bad), kContent), "img: iso9660: directory record at byte " +
                                             std::to_string(content * 2048) +
                                             " is malformed or runs past its sector");
}

TEST(CorruptDrive, RockRidgeContinuationLoop) {
  fakes::TempDir dir;
  std::string image = dir.path + "/rr.iso";
  fakes::Writers()[3].write(fakes::DriveFiles(200), dir.path, image);  // genisoimage -r
  std::ifstream in(image, std::ios::binary);
  std::string iso((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Every continuation area (the long name's, the root's ER) starts with a CE pointing at itself.
  std::vector<size_t> entries;
  for (size_t at = 0; (at = iso.find(std::string_view("CE\x1c\x01", 4), at)) != std::string::npos;)
    entries.push_back(at++);
  ASSERT_FALSE(entries.empty());
  for (size_t ce : entries) {
    uint32_t block = Le32(iso, ce + 4), offset = Le32(iso, ce + 12);
    ASSERT_GE(Le32(iso, ce + 20), 28u);
    PutBoth32(iso, ce + 20, 28);  // the area is that CE alone
    iso.replace(block * 2048 + offset, 28, iso.substr(ce, 28));
  }
  auto fs = Open(iso);
  ASSERT_TRUE(fs);
  std::string err = Error(*fs, kMeta);
  EXPECT_TRUE(err.starts_with("img: iso9660: the record at byte ")) << err;
  EXPECT_TRUE(err.ends_with(" has more than 32 Rock Ridge continuation areas")) << err;
}

TEST(CorruptDrive, NestingDeeperThanAnyDriveIsRefused) {
  std::string path;
  for (int i = 0; i < 40; ++i) path += "d/";
  auto fs = Open(OurImage(false, {{path + "f", "x"}}));
  std::string want;
  for (int i = 0; i < 33; ++i) want += "d/";
  EXPECT_EQ(ListError(*fs), "img: " + want + ": directories nested deeper than 32 levels");
}

}  // namespace
}  // namespace metastack::guest
