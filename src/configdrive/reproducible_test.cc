#include "configdrive/reproducible.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace metastack::configdrive {
namespace {

std::string Hex(const std::vector<uint8_t>& bytes) {
  std::string out;
  char buf[3];
  for (uint8_t b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

std::vector<uint8_t> Draw(core::RandomBytes& random, size_t n) {
  std::vector<uint8_t> out(n);
  random(out);
  return out;
}

// Restores SOURCE_DATE_EPOCH after a test that sets it.
class SourceDateEpochTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv("SOURCE_DATE_EPOCH")) saved_ = v;
    ::unsetenv("SOURCE_DATE_EPOCH");
  }
  void TearDown() override {
    if (saved_)
      ::setenv("SOURCE_DATE_EPOCH", saved_->c_str(), 1);
    else
      ::unsetenv("SOURCE_DATE_EPOCH");
  }
  std::optional<std::string> saved_;
};

TEST(ParseIsoTimestamp, AcceptsTheFormsInstanceDocumentsUse) {
  struct Case {
    const char* text;
    int64_t want;
  };
  const Case cases[] = {
      {"2024-05-06T07:08:09Z", 1714979289},
      {"2024-05-06T07:08:09", 1714979289},
      {"2024-05-06 07:08:09", 1714979289},
      {"2024-05-06T07:08:09.123456Z", 1714979289},
      {"2024-05-06T09:08:09+02:00", 1714979289},
      {"2024-05-06T02:08:09-0500", 1714979289},
      {"1970-01-01T00:00:00Z", 0},
      {"2000-02-29T00:00:00Z", 951782400},
  };
  for (const auto& c : cases) {
    auto t = ParseIsoTimestamp(c.text);
    ASSERT_TRUE(t) << c.text;
    EXPECT_EQ(*t, c.want) << c.text;
  }
}

TEST(ParseIsoTimestamp, RefusesAnythingElse) {
  for (const char* text :
       {"", "2024-05-06", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-05-06T24:00:00Z",
        "2024-05-06T07:08:09Zjunk", "yesterday", "2024-05-06T07:08:09+2"}) {
    auto t = ParseIsoTimestamp(text);
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error().ToString(), std::string("not an ISO 8601 timestamp: ") + text);
  }
}

TEST_F(SourceDateEpochTest, BuildTimePrefersSourceDateEpochThenCreatedAt) {
  EXPECT_EQ(*BuildTime(std::nullopt), kFatEpoch);
  EXPECT_EQ(*BuildTime(std::string("2024-05-06T07:08:09Z")), 1714979289);
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  EXPECT_EQ(*BuildTime(std::string("2024-05-06T07:08:09Z")), 1700000000);
  ::setenv("SOURCE_DATE_EPOCH", "", 1);
  EXPECT_EQ(*BuildTime(std::nullopt), kFatEpoch);
}

TEST_F(SourceDateEpochTest, MalformedInputsAreErrors) {
  auto bad = BuildTime(std::string("last tuesday"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().ToString(), "created_at: not an ISO 8601 timestamp: last tuesday");
  ::setenv("SOURCE_DATE_EPOCH", "12ab", 1);
  auto env = BuildTime(std::nullopt);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error().ToString(),
            "SOURCE_DATE_EPOCH: not a non-negative number of seconds: 12ab");
}

TEST(SeededRandom, IsTheDocumentedHmacStream) {
  // Python: hmac.new(b"seed", b"metastack random_seed v1\0u\0" + (0).to_bytes(8, "big"),
  //                  hashlib.sha256).hexdigest(), then block 1.
  auto random = SeededRandom("seed", "u");
  EXPECT_EQ(Hex(Draw(random, 32)),
            "4bc9702a86c157446918f5d6ef8a712c9896ed05fffa0ca694733ff9755c526b");
  EXPECT_EQ(Hex(Draw(random, 4)), "df307098");
}

TEST(SeededRandom, ReadsContinueTheStreamWhateverTheirSizes) {
  auto whole = SeededRandom("k", "uuid");
  auto pieces = SeededRandom("k", "uuid");
  std::vector<uint8_t> a = Draw(whole, 100);
  std::vector<uint8_t> b = Draw(pieces, 7);
  for (size_t n : {31, 1, 61}) {
    auto more = Draw(pieces, n);
    b.insert(b.end(), more.begin(), more.end());
  }
  EXPECT_EQ(a, b);
}

TEST(SeededRandom, DependsOnSeedAndInstance) {
  auto base = SeededRandom("k", "uuid-1");
  auto other_seed = SeededRandom("k2", "uuid-1");
  auto other_uuid = SeededRandom("k", "uuid-2");
  auto x = Draw(base, 64);
  EXPECT_NE(x, Draw(other_seed, 64));
  EXPECT_NE(x, Draw(other_uuid, 64));
}

}  // namespace
}  // namespace metastack::configdrive
