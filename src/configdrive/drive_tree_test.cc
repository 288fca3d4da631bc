// BuildTree's refusals are asserted verbatim for every writer in image_writer_test.cc; this file
// covers the tree's shape and the UTF-8 decoder.
#include "configdrive/drive_tree.h"

#include <gtest/gtest.h>

namespace metastack::configdrive {
namespace {

constexpr NameLimits kNoLimits{"test", 0, "test", 0};

TEST(BuildTree, SortsByNameAndNestsDirectories) {
  std::vector<core::DriveFile> files = {{"openstack/latest/meta_data.json", "{}"},
                                        {"ec2/latest/user-data", "u"},
                                        {"openstack/content/0000", "c"},
                                        {"openstack/2012-08-10/meta_data.json", "{}"}};
  auto tree = BuildTree(files, kNoLimits);
  ASSERT_TRUE(tree);
  ASSERT_EQ(tree->children.size(), 2u);
  EXPECT_EQ(tree->children[0].name, "ec2");
  const TreeNode& os = tree->children[1];
  EXPECT_EQ(os.name, "openstack");
  ASSERT_EQ(os.children.size(), 3u);
  EXPECT_EQ(os.children[0].name, "2012-08-10");
  EXPECT_EQ(os.children[1].name, "content");
  EXPECT_EQ(os.children[2].name, "latest");
  EXPECT_TRUE(os.IsDir());
  const TreeNode& content = os.children[1].children[0];
  EXPECT_FALSE(content.IsDir());
  EXPECT_EQ(content.contents, &files[2].contents);  // points into the caller's vector
}

TEST(BuildTree, AnEmptyFileSetIsAnEmptyRoot) {
  auto tree = BuildTree({}, kNoLimits);
  ASSERT_TRUE(tree);
  EXPECT_TRUE(tree->IsDir());
  EXPECT_TRUE(tree->children.empty());
}

TEST(BuildTree, LimitsCountUtf16Units) {
  NameLimits limits{"Joliet", 4, "ISO 9660", 1};
  EXPECT_TRUE(BuildTree({{"d/\xf0\x9f\x9a\x80\xf0\x9f\x9a\x80", "x"}}, limits));  // 2 pairs
  auto bad = BuildTree({{"d/\xf0\x9f\x9a\x80\xf0\x9f\x9a\x80z", "x"}}, limits);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "name longer than 4 characters (the Joliet limit)");
  auto deep = BuildTree({{"a/b/c", "x"}}, limits);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().ToString(), "a/b/c: more than 1 directory levels (the ISO 9660 limit)");
}

TEST(Utf8ToUtf16, DecodesAndRefuses) {
  EXPECT_EQ(*Utf8ToUtf16("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x80"), u"a\u00e9\u20ac\U0001F680");
  for (const char* bad :
       {"\x80", "\xc3", "\xc0\x80", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"}) {
    auto r = Utf8ToUtf16(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message, "not valid UTF-8");
  }
}

}  // namespace
}  // namespace metastack::configdrive
