#include "base/strings.h"

#include <gtest/gtest.h>

namespace metastack {
namespace {

TEST(StringsTest, TrimBlanks) {
  EXPECT_EQ(TrimBlanks(" \t a b \t "), "a b");
  EXPECT_EQ(TrimBlanks(""), "");
  EXPECT_EQ(TrimBlanks(" \t"), "");
  EXPECT_EQ(TrimBlanks("\na\r"), "\na\r");  // only blanks
}

TEST(StringsTest, SplitLines) {
  using Lines = std::vector<std::string_view>;
  EXPECT_EQ(SplitLines(""), Lines{});
  EXPECT_EQ(SplitLines("a"), Lines{"a"});
  EXPECT_EQ(SplitLines("a\n"), Lines{"a"});
  EXPECT_EQ(SplitLines("a\n\nb\r\n"), (Lines{"a", "", "b\r"}));
  EXPECT_EQ(SplitLines("\n"), Lines{""});
}

TEST(StringsTest, EqualsIgnoreAsciiCase) {
  EXPECT_TRUE(EqualsIgnoreAsciiCase("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(EqualsIgnoreAsciiCase("CONFIG-2", "config-2"));
  EXPECT_FALSE(EqualsIgnoreAsciiCase("config-2", "config-20"));
  EXPECT_FALSE(EqualsIgnoreAsciiCase("\xc3\x89", "\xc3\xa9"));  // ASCII only
}

}  // namespace
}  // namespace metastack
