#include "base/base64.h"

#include <gtest/gtest.h>

namespace metastack {
namespace {

TEST(Base64Test, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto decoded = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, bytes);
    EXPECT_EQ(Base64Encode(bytes).size(), Base64Length(bytes.size()));
    bytes += static_cast<char>(i * 37);
  }
}

TEST(Base64Test, KnownValues) {
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
  EXPECT_EQ(*Base64Decode("aGVsbG8="), "hello");
  EXPECT_EQ(Base64Encode("hell"), "aGVsbA==");
  EXPECT_EQ(Base64Encode(""), "");
}

TEST(Base64Test, AppendKeepsWhatWasThere) {
  std::string out = "seed: ";
  AppendBase64(out, "hello");
  AppendBase64(out, "");
  AppendBase64(out, "hi!");
  EXPECT_EQ(out, "seed: aGVsbG8=aGkh");
}

TEST(Base64Test, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("aGVsbG8"));    // length
  EXPECT_FALSE(Base64Decode("aGV=bG8="));   // padding in the middle
  EXPECT_FALSE(Base64Decode("aGVs bG8="));  // whitespace
  EXPECT_FALSE(Base64Decode("aGVsbG8*"));   // alphabet
  EXPECT_TRUE(Base64Decode(""));
}

}  // namespace
}  // namespace metastack
