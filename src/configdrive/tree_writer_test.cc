#include "configdrive/tree_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace metastack::configdrive {
namespace {
namespace fs = std::filesystem;

class TreeWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("tree-writer-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  size_t Entries() { return static_cast<size_t>(std::distance(fs::directory_iterator(root_), {})); }

  fs::path root_;
};

TEST_F(TreeWriterTest, WritesEveryFile) {
  std::vector<core::DriveFile> files = {{"openstack/latest/meta_data.json", "{}"},
                                        {"openstack/content/0000", std::string("\0\1", 2)},
                                        {"ec2/latest/user-data", ""}};
  ASSERT_TRUE(WriteTree(files, (root_ / "drive").string()));
  EXPECT_EQ(Read(root_ / "drive/openstack/latest/meta_data.json"), "{}");
  EXPECT_EQ(Read(root_ / "drive/openstack/content/0000"), std::string("\0\1", 2));
  EXPECT_TRUE(fs::exists(root_ / "drive/ec2/latest/user-data"));
  EXPECT_EQ(Entries(), 1u);  // no temporary directory left beside it
}

TEST_F(TreeWriterTest, FillsAnEmptyDirectory) {
  fs::create_directories(root_ / "drive");
  ASSERT_TRUE(WriteTree({{"a", "1"}}, (root_ / "drive").string()));
  EXPECT_EQ(Read(root_ / "drive/a"), "1");
}

TEST_F(TreeWriterTest, RefusesANonEmptyTarget) {
  fs::create_directories(root_ / "drive");
  std::ofstream(root_ / "drive/keep") << "x";
  auto st = WriteTree({{"a", "1"}}, (root_ / "drive").string());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().ToString(),
            (root_ / "drive").string() + ": exists and is not an empty directory");
  EXPECT_EQ(Read(root_ / "drive/keep"), "x");
}

TEST_F(TreeWriterTest, HostilePathsWriteNothing) {
  for (const char* bad : {"../escape", "/etc/passwd", "a/../../b", "./a"}) {
    auto st = WriteTree({{"ok", "1"}, {bad, "x"}}, (root_ / "drive").string());
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(Entries(), 0u) << bad;
  }
  auto st = WriteTree({{std::string("a\0b", 3), "x"}}, (root_ / "drive").string());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "contains a NUL byte");
}

}  // namespace
}  // namespace metastack::configdrive
