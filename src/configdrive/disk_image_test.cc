#include "configdrive/disk_image.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "configdrive/disk_container.h"
#include "configdrive/disk_test_readers.h"
#include "configdrive/test_util.h"

namespace metastack::configdrive {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = kMiB << 10;
constexpr int64_t kVhdEpoch = 946684800;

// --- the drives every format wraps --------------------------------------------------------------
const Image& IsoDrive() {
  static const Image image = [] {
    auto writer = NewImageWriter("iso", ImageOptions{}, 0);
    EXPECT_TRUE(writer.has_value());
    auto built = (*writer)->Build(testing::ExampleFiles());
    EXPECT_TRUE(built.has_value());
    return *built;
  }();
  return image;
}

const Image& VfatDrive() {  // 64 MiB, Nova's size: mostly zeros
  static const Image image = [] {
    auto writer = NewImageWriter("vfat", ImageOptions{}, 64 * kMiB);
    EXPECT_TRUE(writer.has_value());
    auto built = (*writer)->Build(testing::ExampleFiles());
    EXPECT_TRUE(built.has_value());
    return *built;
  }();
  return image;
}

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 253) % 251 + 1);
  return s;
}

// Extents that fall across every format's unit (64 KiB, 1 MiB, 2 MiB), a run of zeros (stored
// nowhere), and a size that is no multiple of any unit.
const Image& UnalignedDrive() {
  static const Image image{5 * kMiB + 7 * 512,
                           {{1000, Pattern(70000, 1)},
                            {2 * kMiB - 100, Pattern(200, 2)},
                            {3 * kMiB + 5, std::string(100, '\0')},
                            {5 * kMiB + 7 * 512 - 300, Pattern(300, 3)}}};
  return image;
}

// 6 GiB with data past 4 GiB: several L2 tables and grain tables, VHDX's sector bitmap entry
// (one per 4 GiB) in the middle of its BAT.
const Image& LargeSparseDrive() {
  static const Image image{6 * kGiB,
                           {{0, Pattern(4096, 4)},
                            {4 * kGiB + kMiB + 17, Pattern(5000, 5)},
                            {6 * kGiB - 512, Pattern(512, 6)}}};
  return image;
}

const struct NamedDrive {
  const char* name;
  const Image& (*drive)();
} kDrives[] = {{"iso", IsoDrive},
               {"vfat 64 MiB", VfatDrive},
               {"unaligned", UnalignedDrive},
               {"6 GiB sparse", LargeSparseDrive}};

// --- reading back -------------------------------------------------------------------------------
Image ReadBack(DiskFormat format, const Image& file, int64_t timestamp = 315532800) {
  Image disk;
  switch (format) {
    case DiskFormat::kQcow2:
      disk = testing::ReadQcow2(file);
      break;
    case DiskFormat::kVhd:
      disk = testing::ReadVhd(file,
                              static_cast<uint32_t>(std::max<int64_t>(timestamp - kVhdEpoch, 0)));
      break;
    case DiskFormat::kVhdx:
      disk = testing::ReadVhdx(file);
      break;
    case DiskFormat::kVmdk:
      disk = testing::ReadVmdk(file);
      break;
    case DiskFormat::kRaw:
      return file;
  }
  // The last unit may reach past the disk's end: only zeros there.
  for (auto& e : disk.extents) {
    if (e.offset + e.bytes.size() <= disk.size) continue;
    const size_t keep = e.offset < disk.size ? disk.size - e.offset : 0;
    EXPECT_EQ(e.bytes.find_first_not_of('\0', keep), std::string::npos) << "data past the end";
    e.bytes.resize(keep);
  }
  return disk;
}

// Same size, and every range either image stores reads alike in both.
::testing::AssertionResult SameDisk(const Image& want, const Image& got) {
  if (want.size != got.size)
    return ::testing::AssertionFailure() << "size " << got.size << ", want " << want.size;
  for (const Image* image : {&want, &got}) {
    for (const auto& e : image->extents) {
      const uint64_t n =
          std::min<uint64_t>(e.bytes.size(), want.size - std::min(want.size, e.offset));
      if (testing::ImageBytes(want, e.offset, n) != testing::ImageBytes(got, e.offset, n))
        return ::testing::AssertionFailure()
               << "bytes differ in [" << e.offset << ", +" << n << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

uint64_t Stored(const Image& image) {
  uint64_t n = 0;
  for (const auto& e : image.extents) n += e.bytes.size();
  return n;
}

Image Wrap(const Image& raw, DiskFormat format, int64_t timestamp = 315532800) {
  auto out = WrapDisk(raw, format, {timestamp});
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().ToString());
  return out ? *out : Image{};
}

// --- every format -------------------------------------------------------------------------------
class EveryDiskFormat : public ::testing::TestWithParam<DiskFormat> {};

TEST_P(EveryDiskFormat, ReadsBackAsTheRawDriveExactly) {
  for (const auto& d : kDrives) {
    SCOPED_TRACE(d.name);
    const Image file = Wrap(d.drive(), GetParam(), testing::kCreatedAt);
    // A well-formed Image: extents ascending, apart, inside the file.
    for (size_t i = 0; i < file.extents.size(); ++i) {
      const auto& e = file.extents[i];
      EXPECT_LE(e.offset + e.bytes.size(), file.size);
      if (i > 0) {
        EXPECT_LT(file.extents[i - 1].offset + file.extents[i - 1].bytes.size(), e.offset);
      }
    }
    EXPECT_TRUE(SameDisk(d.drive(), ReadBack(GetParam(), file, testing::kCreatedAt)));
  }
}

TEST_P(EveryDiskFormat, TwoWrapsAreByteIdentical) {
  for (const auto& d : kDrives) {
    SCOPED_TRACE(d.name);
    EXPECT_EQ(Wrap(d.drive(), GetParam()).Flatten(), Wrap(d.drive(), GetParam()).Flatten());
  }
}

TEST_P(EveryDiskFormat, IdentifiersFollowTheContentNotHowItIsCut) {
  // The same bytes cut into other extents: the same file.
  Image recut{UnalignedDrive().size, {}};
  for (const auto& e : UnalignedDrive().extents) {
    const size_t half = e.bytes.size() / 2;
    recut.extents.push_back({e.offset, e.bytes.substr(0, half)});
    recut.extents.push_back({e.offset + half, e.bytes.substr(half)});
  }
  EXPECT_EQ(Wrap(recut, GetParam()).Flatten(), Wrap(UnalignedDrive(), GetParam()).Flatten());
  // One byte changed: the identifiers change with it (qcow2 carries none).
  Image changed = UnalignedDrive();
  changed.extents[0].bytes[10] ^= 1;
  const std::string a = Wrap(UnalignedDrive(), GetParam()).Flatten();
  const std::string b = Wrap(changed, GetParam()).Flatten();
  ASSERT_EQ(a.size(), b.size());
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  EXPECT_EQ(differ > 1, GetParam() != DiskFormat::kQcow2) << differ << " bytes differ";
}

TEST_P(EveryDiskFormat, StoresNoZeros) {
  const Image file = Wrap(VfatDrive(), GetParam());
  // The VFAT image's data (boot sector, FATs, directories, files) is under 128 KiB.
  EXPECT_LT(Stored(VfatDrive()), 128 * 1024u);
  EXPECT_LT(Stored(file), 256 * 1024u);
  EXPECT_LE(file.size, 6 * kMiB);  // VHDX's four 1 MiB regions and one block
  // A drive of zeros stores only the container's own tables, and no data unit.
  const Image zeros{64 * kMiB, {{0, std::string(3 * kMiB, '\0')}}};
  const Image empty = Wrap(zeros, GetParam());
  EXPECT_LT(Stored(empty), 64 * 1024u);
  EXPECT_TRUE(ReadBack(GetParam(), empty).extents.empty());
  EXPECT_TRUE(SameDisk(zeros, ReadBack(GetParam(), empty)));
}

TEST_P(EveryDiskFormat, RefusesADriveOfPartSectors) {
  auto out = WrapDisk(Image{1000, {}}, GetParam(), {});
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(out.error().message, std::string(DiskFormatName(GetParam())) +
                                     ": the drive is 1000 bytes, not a whole number of 512-byte "
                                     "sectors");
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryDiskFormat,
                         ::testing::Values(DiskFormat::kQcow2, DiskFormat::kVhd, DiskFormat::kVhdx,
                                           DiskFormat::kVmdk),
                         [](const auto& info) { return std::string(DiskFormatName(info.param)); });

TEST(DiskLimits, EachFormatRefusesWhatItCannotDescribe) {
  const struct {
    DiskFormat format;
    uint64_t limit;
    std::string message;
  } kLimits[] = {
      {DiskFormat::kQcow2, uint64_t{2} << 50,
       "QEMU opens a qcow2 image of at most 2 PiB (a 32 MiB L1 table at 64 KiB clusters)"},
      {DiskFormat::kVhd, 2040 * kGiB, "a dynamic VHD holds at most 2040 GiB"},
      {DiskFormat::kVhdx, uint64_t{64} << 40, "VHDX holds at most 64 TiB"},
      {DiskFormat::kVmdk, 2040 * kGiB,
       "a monolithicSparse VMDK holds at most 2040 GiB here (its offsets are 32-bit sector "
       "numbers)"},
  };
  for (const auto& l : kLimits) {
    SCOPED_TRACE(DiskFormatName(l.format));
    // The limit itself is accepted (reading it back is left to the smaller drives above: the
    // tables of a 64 TiB disk are large, though the file holds little of them).
    auto ok = WrapDisk(Image{l.limit, {{l.limit - 512, Pattern(512, 7)}}}, l.format, {});
    ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
    EXPECT_LT(Stored(*ok), 8 * kMiB);
    auto over = WrapDisk(Image{l.limit + 512, {}}, l.format, {});
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code, ErrorCode::kTooLarge);
    EXPECT_EQ(over.error().message, std::string(DiskFormatName(l.format)) + ": the drive is " +
                                        std::to_string(l.limit + 512) + " bytes; " + l.message);
  }
}

// --- names --------------------------------------------------------------------------------------
TEST(DiskFormatNames, ParseNamesAndExtensions) {
  const struct {
    DiskFormat format;
    const char* name;
    const char* qemu;
  } kNames[] = {{DiskFormat::kRaw, "raw", "raw"},
                {DiskFormat::kQcow2, "qcow2", "qcow2"},
                {DiskFormat::kVhd, "vhd", "vpc"},
                {DiskFormat::kVhdx, "vhdx", "vhdx"},
                {DiskFormat::kVmdk, "vmdk", "vmdk"}};
  for (const auto& n : kNames) {
    EXPECT_EQ(DiskFormatName(n.format), n.name);
    EXPECT_EQ(QemuFormatName(n.format), n.qemu);
    EXPECT_EQ(ParseDiskFormat(n.name), n.format);
  }
  EXPECT_EQ(ParseDiskFormat("vpc"), std::nullopt);
  EXPECT_EQ(ParseDiskFormat("QCOW2"), std::nullopt);
  EXPECT_EQ(ParseDiskFormat(""), std::nullopt);

  EXPECT_EQ(DiskFormatForPath("seed.qcow2"), DiskFormat::kQcow2);
  EXPECT_EQ(DiskFormatForPath("/var/lib/x/SEED.VHD"), DiskFormat::kVhd);
  EXPECT_EQ(DiskFormatForPath("disk.vhdx"), DiskFormat::kVhdx);
  EXPECT_EQ(DiskFormatForPath("a.b/disk.Vmdk"), DiskFormat::kVmdk);
  EXPECT_EQ(DiskFormatForPath("seed.iso"), std::nullopt);
  EXPECT_EQ(DiskFormatForPath("seed.raw"), std::nullopt);
  EXPECT_EQ(DiskFormatForPath("seed.img"), std::nullopt);
  EXPECT_EQ(DiskFormatForPath("dir.vhd/seed"), std::nullopt);
  EXPECT_EQ(DiskFormatForPath("seed"), std::nullopt);
  EXPECT_EQ(DiskFormatForPath("seed.vpc"), std::nullopt);
}

TEST(DiskRaw, IsTheImageUnchanged) {
  EXPECT_EQ(Wrap(UnalignedDrive(), DiskFormat::kRaw).Flatten(), UnalignedDrive().Flatten());
}

// --- VHD
// ------------------------------------------------------------------------------------------
TEST(VhdGeometry, IsExactForEveryIsoAndVfatSize) {
  // ISO9660 images are whole 2 KiB blocks (4 sectors); VFAT images whole MiB.
  std::vector<uint64_t> sizes;
  for (uint64_t s = 4; s <= 4 * 65535; s += 4 * 193) sizes.push_back(s);
  for (uint64_t s : {4, 8, 412, 4 * 65534, 4 * 65535}) sizes.push_back(s);
  for (uint64_t mib : {1, 2, 3, 63, 64, 100, 1000, 4097, 32768, 65535}) sizes.push_back(mib * 2048);
  for (uint64_t s : sizes) {
    const disk::VhdGeometry g = disk::VhdGeometryFor(s);
    EXPECT_EQ(g.Sectors(), s) << s;
    EXPECT_LE(g.cylinders, 65535u);
    EXPECT_LE(g.heads, 16u);
    EXPECT_LE(g.sectors_per_track, 255u);
  }
}

TEST(VhdGeometry, PrefersTheSpecificationsWhenExact) {
  const disk::VhdGeometry spec = disk::VhdGeometryFor(100 * 4 * 17);  // 100 x 4 x 17
  EXPECT_EQ((std::array{spec.cylinders, spec.heads, spec.sectors_per_track}),
            (std::array<uint32_t, 3>{100, 4, 17}));
  const disk::VhdGeometry big = disk::VhdGeometryFor(disk::kVhdMaxGeometrySectors + 8);
  EXPECT_EQ((std::array{big.cylinders, big.heads, big.sectors_per_track}),
            (std::array<uint32_t, 3>{65535, 16, 255}));
}

TEST(VhdGeometry, RoundsUpOnlyWithoutAnExactOne) {
  // 65537 is prime: no cylinders x heads x sectors (cylinders <= 65535) makes it.
  const disk::VhdGeometry g = disk::VhdGeometryFor(65537);
  EXPECT_GT(g.Sectors(), 65537u);
  EXPECT_LT(g.Sectors(), 65537u + 16);
  // The disk grows to the geometry's size, zeros at its end, as QEMU and Hyper-V both see it.
  const Image raw{65537 * 512, {{65537 * 512 - 512, Pattern(512, 8)}}};
  const Image back = ReadBack(DiskFormat::kVhd, Wrap(raw, DiskFormat::kVhd));
  EXPECT_EQ(back.size, g.Sectors() * 512);
  Image grown = raw;
  grown.size = back.size;
  EXPECT_TRUE(SameDisk(grown, back));
}

TEST(VhdDisk, TimestampIsTheOptionsSince2000) {
  const Image file = Wrap(UnalignedDrive(), DiskFormat::kVhd, testing::kCreatedAt);
  EXPECT_EQ(GetBe32(&file.extents[0].bytes[24]), testing::kCreatedAt - kVhdEpoch);
  ReadBack(DiskFormat::kVhd, file, testing::kCreatedAt);  // checksums hold
  // Before 2000 (the default, FAT's 1980 epoch): 0.
  EXPECT_EQ(GetBe32(&Wrap(UnalignedDrive(), DiskFormat::kVhd).extents[0].bytes[24]), 0u);
}

// --- shared parts
// ---------------------------------------------------------------------------------
TEST(DiskContainer, Crc32cIsCastagnolis) {
  EXPECT_EQ(disk::Crc32c("123456789"), 0xE3069283u);  // the catalogue's check value
  EXPECT_EQ(disk::Crc32c(""), 0u);
  const std::string s = Pattern(4096, 9);
  EXPECT_EQ(disk::Crc32c(s), testing::BitwiseCrc32c(s));
}

TEST(DiskContainer, UsedUnitsSkipZeros) {
  const Image raw{10 * 4096,
                  {{100, std::string(5000, '\0')},               // zeros across units 0 and 1
                   {4096 * 2 + 4095, "x"},                       // the last byte of unit 2
                   {4096 * 3, std::string(4096, '\0') + "y"}}};  // unit 3 zero, unit 4 not
  EXPECT_EQ(disk::UsedUnits(raw, 4096), (std::vector<uint64_t>{2, 4}));
}

TEST(DiskContainer, BuilderLeavesZeroPagesAsHoles) {
  disk::ContainerBuilder b;
  b.Put(8192, std::string(4096, '\0') + "abc" + std::string(8192, '\0') + "d");
  b.Put(0, "head");
  b.Put(4096 * 10, std::string(100, '\0'));
  const Image out = std::move(b).Finish(4096 * 11);
  ASSERT_EQ(out.extents.size(), 3u);
  EXPECT_EQ(out.extents[0].offset, 0u);
  EXPECT_EQ(out.extents[0].bytes, "head");
  EXPECT_EQ(out.extents[1].offset, 8192u + 4096);
  EXPECT_EQ(out.extents[1].bytes.substr(0, 3), "abc");
  EXPECT_EQ(out.extents[1].bytes.size(), 4096u);
  EXPECT_EQ(out.extents[2].offset, 8192u + 4096 * 3);
  EXPECT_EQ(out.extents[2].bytes, std::string(3, '\0') + "d");
}

}  // namespace
}  // namespace metastack::configdrive
