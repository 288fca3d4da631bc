// Drives from every writer read back in place: label, format, every file byte for byte, names
// as each format compares them; FindDrives over a fake /sys/class/block and /dev.
#include "guest/drive.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "guest/drive_fs.h"
#include "guest/test_drive_images.h"

namespace metastack::guest {
namespace {

using fakes::TempDir;
using fakes::Writer;

class DriveRoundTrip : public ::testing::TestWithParam<Writer> {
 protected:
  void SetUp() override {
    files_ = GetParam().plain_names ? fakes::PlainFiles() : fakes::DriveFiles(GetParam().long_name);
    image_ = dir_.path + "/image";
    GetParam().write(files_, dir_.path, image_);
  }
  TempDir dir_;
  std::vector<core::DriveFile> files_;
  std::string image_;
};

TEST_P(DriveRoundTrip, ProbeGivesFormatAndLabel) {
  auto label = ProbeDrive(image_);
  ASSERT_TRUE(label) << label.error().ToString();
  ASSERT_TRUE(label->has_value());
  EXPECT_EQ((*label)->format,
            GetParam().format == "vfat" ? DriveFormat::kVfat : DriveFormat::kIso9660);
  EXPECT_EQ((*label)->label, GetParam().label);
}

TEST_P(DriveRoundTrip, EveryFileReadsBackByteForByte) {
  auto tree = OpenDrive(image_);
  ASSERT_TRUE(tree) << tree.error().ToString();
  for (const auto& f : files_) {
    auto got = (*tree)->Read(f.path);
    ASSERT_TRUE(got) << f.path << ": " << got.error().ToString();
    EXPECT_EQ(*got, f.contents) << f.path;
  }
  EXPECT_EQ((*tree)->Describe(),
            "config drive " + image_ + " (" + GetParam().format + ", " + GetParam().label + ")");
  auto missing = (*tree)->Read("openstack/latest/user_data");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().ToString(), image_ + ": openstack/latest/user_data: no such file");
  auto dir = (*tree)->Read("openstack/latest");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().ToString(), image_ + ": openstack/latest: a directory, not a file");
  auto escape = (*tree)->Read("openstack/../openstack/latest/meta_data.json");
  ASSERT_FALSE(escape);
  EXPECT_EQ(escape.error().ToString(),
            "openstack/../openstack/latest/meta_data.json: not a relative path in a tree");
}

TEST_P(DriveRoundTrip, ListsExactlyTheFilesWritten) {
  auto fs = OpenDriveFs(*OpenImageFile(image_));
  ASSERT_TRUE(fs && *fs);
  auto listed = ListDriveFiles(**fs);
  ASSERT_TRUE(listed) << listed.error().ToString();
  std::vector<std::string> want;
  for (const auto& f : files_) want.push_back(f.path);
  std::sort(want.begin(), want.end());
  std::sort(listed->begin(), listed->end());
  EXPECT_EQ(*listed, want);
}

TEST_P(DriveRoundTrip, VfatNamesIgnoreCaseIsoNamesDoNot) {
  auto tree = OpenDrive(image_);
  ASSERT_TRUE(tree);
  auto upper = (*tree)->Read("OpenStack/LATEST/Meta_Data.JSON");
  if (GetParam().format == "vfat") {
    ASSERT_TRUE(upper) << upper.error().ToString();
    EXPECT_EQ(*upper, files_[0].contents);
  } else {
    ASSERT_FALSE(upper);
    EXPECT_EQ(upper.error().code, ErrorCode::kNotFound);
  }
}

INSTANTIATE_TEST_SUITE_P(Writers, DriveRoundTrip, ::testing::ValuesIn(fakes::Writers()),
                         [](const auto& info) { return info.param.name; });

TEST(ProbeDrive, SaysWhatIsNeitherFormatOrMissing) {
  TempDir dir;
  std::ofstream(dir.path + "/junk") << std::string(100000, 'x');
  auto junk = ProbeDrive(dir.path + "/junk");
  ASSERT_TRUE(junk);
  EXPECT_FALSE(junk->has_value());
  auto open = OpenDrive(dir.path + "/junk");
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().ToString(), dir.path + "/junk: neither ISO 9660 nor FAT");
  auto missing = ProbeDrive(dir.path + "/none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().ToString(), dir.path + "/none: No such file or directory");
}

TEST(FindDrives, MatchesLabelsIgnoringCaseInLabelOrderThenByDevice) {
  TempDir dir;
  std::string sys = dir.path + "/sys", dev = dir.path + "/dev";
  std::filesystem::create_directories(dev);
  for (const char* name : {"sr0", "vda", "vdb", "vdc", "loop0", "sda"})
    std::filesystem::create_directories(sys + "/" + name);
  std::ofstream(sys + "/not-a-device") << "";  // only directories are devices
  auto write = [&](const std::string& name, bool iso, const std::string& label) {
    configdrive::ImageOptions o;
    o.label = label;
    std::vector<core::DriveFile> files = {{"meta-data", "instance-id: i-1\n"}};
    if (iso) {
      ASSERT_TRUE(configdrive::IsoWriter(o).Write(files, dev + "/" + name));
    } else {
      configdrive::VfatOptions v;
      v.image = o;
      ASSERT_TRUE((*configdrive::VfatWriter::Create(v))->Write(files, dev + "/" + name));
    }
  };
  write("sr0", true, "config-2");
  write("vdb", false, "CIDATA");
  write("sda", false, "CONFIG-2");
  write("vdc", true, "other");
  write("not-a-device", true, "config-2");
  std::ofstream(dev + "/vda") << std::string(70000, '\0');  // no file system
  // loop0 has no device node: skipped.
  auto found = FindDrives({"cidata", "config-2"}, sys, dev);
  std::vector<std::string> got;
  for (const auto& d : found) got.push_back(d.device + " " + d.label.label);
  EXPECT_EQ(got, (std::vector<std::string>{dev + "/vdb CIDATA", dev + "/sda CONFIG-2",
                                           dev + "/sr0 config-2"}));
  EXPECT_EQ(found[0].label.format, DriveFormat::kVfat);
  EXPECT_EQ(found[2].label.format, DriveFormat::kIso9660);
  EXPECT_TRUE(FindDrives({"config-2"}, dir.path + "/no-sys", dev).empty());
}

}  // namespace
}  // namespace metastack::guest
