#include "base/utf8.h"

#include <gtest/gtest.h>

#include <vector>

namespace metastack {
namespace {

// Every code point (or -1 for a malformed sequence) and where each decode left off.
std::vector<std::pair<long, size_t>> Decode(std::string_view s) {
  std::vector<std::pair<long, size_t>> out;
  for (size_t i = 0; i < s.size();) {
    auto cp = NextCodePoint(s, i);
    out.emplace_back(cp ? static_cast<long>(*cp) : -1, i);
  }
  return out;
}

using Steps = std::vector<std::pair<long, size_t>>;

TEST(Utf8, DecodesEveryLength) {
  EXPECT_EQ(Decode("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            (Steps{{'a', 1}, {0xE9, 3}, {0x20AC, 6}, {0x1F600, 10}}));
  EXPECT_EQ(Decode(std::string_view("\0", 1)), (Steps{{0, 1}}));
  EXPECT_EQ(Decode("\xf4\x8f\xbf\xbf"), (Steps{{0x10FFFF, 4}}));
}

TEST(Utf8, MalformedSequencesAdvanceByTheirMaximalSubpart) {
  EXPECT_EQ(Decode("\x80"), (Steps{{-1, 1}}));  // stray continuation
  EXPECT_EQ(Decode("\xff"
                   "a"),
            (Steps{{-1, 1}, {'a', 2}}));  // never a lead byte
  EXPECT_EQ(Decode("\xe2\x82"
                   "a"),
            (Steps{{-1, 2}, {'a', 3}}));                    // cut short by 'a'
  EXPECT_EQ(Decode("\xf0\x9f\x98"), (Steps{{-1, 3}}));      // cut short by the end
  EXPECT_EQ(Decode("\xc0\xaf"), (Steps{{-1, 2}}));          // overlong '/'
  EXPECT_EQ(Decode("\xe0\x80\xaf"), (Steps{{-1, 3}}));      // overlong '/'
  EXPECT_EQ(Decode("\xed\xa0\x80"), (Steps{{-1, 3}}));      // surrogate U+D800
  EXPECT_EQ(Decode("\xf4\x90\x80\x80"), (Steps{{-1, 4}}));  // U+110000
}

TEST(Utf8, Validates) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("caf\xe9"));  // Latin-1
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
}

TEST(Utf8, EncodesWhatItDecodes) {
  for (char32_t cp : {char32_t{0}, char32_t{0x7F}, char32_t{0x80}, char32_t{0x7FF}, char32_t{0x800},
                      char32_t{0xD7FF}, char32_t{0xE000}, char32_t{0xFFFD}, char32_t{0x10000},
                      char32_t{0x10FFFF}}) {
    std::string s;
    AppendUtf8(s, cp);
    size_t i = 0;
    EXPECT_EQ(NextCodePoint(s, i), cp);
    EXPECT_EQ(i, s.size());
  }
}

}  // namespace
}  // namespace metastack
