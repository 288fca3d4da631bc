#include "guest/tree.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace metastack::guest {
namespace {

TEST(DirectoryTreeTest, ReadsFilesAndSaysWhatIsMissing) {
  char tmpl[] = "/tmp/metastack-tree-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::filesystem::create_directories(dir + "/openstack/latest");
  std::ofstream(dir + "/openstack/latest/meta_data.json") << "{}";
  auto tree = DirectoryTree(dir);
  EXPECT_EQ(tree->Read("openstack/latest/meta_data.json").value(), "{}");
  auto missing = tree->Read("openstack/latest/user_data");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto escape = tree->Read("openstack/../../etc/passwd");
  ASSERT_FALSE(escape);
  EXPECT_EQ(escape.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(escape.error().ToString(), "openstack/../../etc/passwd: not a relative path in a tree");
  EXPECT_FALSE(tree->Read("/etc/passwd"));
  EXPECT_EQ(tree->Describe(), "directory " + dir);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace metastack::guest
