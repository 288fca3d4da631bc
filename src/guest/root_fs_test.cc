#include "guest/root_fs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "guest/test_util.h"

namespace metastack::guest {
namespace {

using fakes::TempDir;

TEST(RootFsTest, ResolvesLikeAChroot) {
  TempDir root;
  root.Write("usr/lib/x", "");
  ASSERT_EQ(symlink("usr/lib", (root.path + "/lib").c_str()), 0);        // relative
  ASSERT_EQ(symlink("/usr/lib", (root.path + "/abs").c_str()), 0);       // absolute: the root's
  ASSERT_EQ(symlink("../../../../..", (root.path + "/up").c_str()), 0);  // climbs: stops at root
  ASSERT_EQ(symlink("loop", (root.path + "/loop").c_str()), 0);
  RootFs fs(root.path + "/");
  EXPECT_EQ(fs.Resolve("/lib/x").value(), root.path + "/usr/lib/x");
  EXPECT_EQ(fs.Resolve("/abs/x").value(), root.path + "/usr/lib/x");
  EXPECT_EQ(fs.Resolve("/up/etc/passwd").value(), root.path + "/etc/passwd");
  EXPECT_EQ(fs.Resolve("/a/./b/../c").value(), root.path + "/a/c");
  EXPECT_EQ(fs.Resolve("/").value(), root.path);
  EXPECT_EQ(RootFs("/").Resolve("/etc//hostname").value(), "/etc/hostname");
  struct Case {
    const char* path;
    const char* error;
  } cases[] = {
      {"etc/passwd", "etc/passwd: not an absolute path"},
      {"", "not an absolute path"},
      {"/../etc/passwd", "/../etc/passwd: path escapes the root"},
      {"/a/../../b", "/a/../../b: path escapes the root"},
      {"/loop/x", "/loop/x: too many levels of symbolic links"},
  };
  for (const auto& c : cases) {
    auto r = fs.Resolve(c.path);
    ASSERT_FALSE(r) << c.path;
    EXPECT_EQ(r.error().ToString(), c.error);
  }
  EXPECT_EQ(fs.Resolve(std::string("/a\0b", 4)).error().message, "contains a NUL byte");
}

TEST(RootFsTest, WritesAtomicallyAndReadsBack) {
  TempDir root;
  RootFs fs(root.path);
  ASSERT_TRUE(fs.WriteAtomically("/a/b/c.txt", "one", 0640, -1, -1, 0750));
  EXPECT_EQ(fs.ReadIfExists("/a/b/c.txt").value(), "one");
  ASSERT_TRUE(fs.WriteAtomically("/a/b/c.txt", "two", 0640));
  EXPECT_EQ(root.Read("a/b/c.txt"), "two");
  EXPECT_FALSE(root.Exists("a/b/c.txt.metastack-guest.tmp"));
  EXPECT_EQ(fs.ReadIfExists("/nothing").value(), std::nullopt);
  EXPECT_TRUE(fs.IsDirectory("/a/b"));
  EXPECT_EQ(fs.WriteAtomically("/a/b", "x", 0644).error().ToString(),
            "/a/b: exists and is a directory");
  EXPECT_EQ(fs.WriteAtomically("/a/b/c.txt/d", "x", 0644).error().ToString(),
            "/a/b/c.txt: exists and is not a directory");
}

TEST(RootFsTest, WritesASetOfFilesOrNoneOfThem) {
  TempDir root;
  RootFs fs(root.path);
  root.Write("etc/hostname", "old\n");
  ASSERT_TRUE(fs.MakeDirectories("/etc/dir", 0755));
  // The second path is a directory: nothing is renamed, no temporary file is left.
  auto failed = fs.WriteFiles({{"/etc/hostname", "new\n"}, {"/etc/dir", "x"}, {"/etc/z", "z"}});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().ToString(), "/etc/dir: exists and is a directory");
  EXPECT_EQ(root.Read("etc/hostname"), "old\n");
  EXPECT_FALSE(root.Exists("etc/hostname.metastack-guest.tmp"));
  EXPECT_FALSE(root.Exists("etc/z"));
  ASSERT_TRUE(fs.WriteFiles({{"/etc/hostname", "new\n"}, {"/var/lib/x/state", "s", 0600}}));
  EXPECT_EQ(root.Read("etc/hostname"), "new\n");
  EXPECT_EQ(root.Read("var/lib/x/state"), "s");
}

TEST(RootFsTest, LooksUpUsersInTheRootsPasswd) {
  TempDir root;
  RootFs fs(root.path);
  EXPECT_EQ(LookUpUser(fs, "root").error().ToString(), "user root: not in /etc/passwd");
  root.Write("etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\nbad:x:a:0::/h:/bin/sh\n"
             "debian:x:1000:1001:Debian:/home/debian:/bin/bash");
  auto debian = LookUpUser(fs, "debian");
  ASSERT_TRUE(debian);
  EXPECT_EQ(debian->uid, 1000u);
  EXPECT_EQ(debian->gid, 1001u);
  EXPECT_EQ(debian->home, "/home/debian");
  EXPECT_EQ(LookUpUser(fs, "bad").error().ToString(), "user bad: malformed /etc/passwd entry");
  EXPECT_EQ(LookUpUser(fs, "deb").error().ToString(), "user deb: not in /etc/passwd");
}

}  // namespace
}  // namespace metastack::guest
