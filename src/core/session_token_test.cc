#include "core/session_token.h"

#include <gtest/gtest.h>

#include <cstring>

namespace metastack::core {
namespace {

constexpr char kUuidA[] = "c0ffee00-0000-4000-8000-000000000001";
constexpr char kUuidB[] = "c0ffee00-0000-4000-8000-000000000002";
constexpr int64_t kNow = 1'700'000'000;

// A counter, so every test's nonces differ and are reproducible.
RandomBytes CountingRandom() {
  auto n = std::make_shared<uint8_t>(0);
  return [n](std::span<uint8_t> out) {
    for (auto& b : out) b = (*n)++;
  };
}

TokenKey Key(uint8_t id, uint8_t fill) {
  TokenKey k;
  k.id = id;
  k.bytes.fill(fill);
  return k;
}

TEST(SessionTokenTest, RoundTripUntilExpiry) {
  SessionTokens tokens({Key(7, 0x11)});
  std::string t = tokens.Issue(kUuidA, kNow + 60, CountingRandom());
  EXPECT_EQ(t.size(), 50u);
  EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_TRUE(tokens.Verify(t, kUuidA, kNow));
  EXPECT_TRUE(tokens.Verify(t, kUuidA, kNow + 59));
  auto expired = tokens.Verify(t, kUuidA, kNow + 60);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(expired.error().message, "token expired");
}

TEST(SessionTokenTest, FreshNonceEachTime) {
  SessionTokens tokens({Key(0, 0x22)});
  auto random = CountingRandom();
  EXPECT_NE(tokens.Issue(kUuidA, kNow + 60, random), tokens.Issue(kUuidA, kNow + 60, random));
}

TEST(SessionTokenTest, AnotherInstancesTokenIsRefused) {
  SessionTokens tokens({Key(0, 0x33)});
  std::string t = tokens.Issue(kUuidA, kNow + 60, CountingRandom());
  auto other = tokens.Verify(t, kUuidB, kNow);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().message, "token not valid for this instance");
}

TEST(SessionTokenTest, EveryTamperedCharacterIsRefused) {
  SessionTokens tokens({Key(0, 0x44)});
  std::string t = tokens.Issue(kUuidA, kNow + 60, CountingRandom());
  for (size_t i = 0; i < t.size(); ++i) {
    std::string bad = t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto v = tokens.Verify(bad, kUuidA, kNow);
    ASSERT_FALSE(v) << i;
    EXPECT_EQ(v.error().code, ErrorCode::kUnauthenticated);
  }
}

TEST(SessionTokenTest, MalformedTokens) {
  SessionTokens tokens({Key(0, 0x55)});
  std::string t = tokens.Issue(kUuidA, kNow + 60, CountingRandom());
  for (std::string bad : {std::string(), std::string("x"), t + "A", t.substr(1),
                          t.substr(0, 49) + "=", std::string(1000, 'A'), t.substr(0, 48) + "+/"}) {
    auto v = tokens.Verify(bad, kUuidA, kNow);
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.error().message, "malformed token") << bad;
  }
}

TEST(SessionTokenTest, KeyRotation) {
  TokenKey old_key = Key(1, 0x66), new_key = Key(2, 0x77);
  SessionTokens before({old_key});
  SessionTokens during({old_key, new_key});  // old issues, both verify
  SessionTokens after_swap({new_key, old_key});
  SessionTokens after({new_key});
  std::string by_old = before.Issue(kUuidA, kNow + 60, CountingRandom());
  std::string by_new = after_swap.Issue(kUuidA, kNow + 60, CountingRandom());
  EXPECT_TRUE(during.Verify(by_old, kUuidA, kNow));
  EXPECT_TRUE(during.Verify(by_new, kUuidA, kNow));
  EXPECT_TRUE(after_swap.Verify(by_old, kUuidA, kNow));
  EXPECT_TRUE(after.Verify(by_new, kUuidA, kNow));
  auto gone = after.Verify(by_old, kUuidA, kNow);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message, "token sealed with an unknown key");
  // The same id with other key bytes: authentication fails.
  SessionTokens impostor({Key(1, 0x99)});
  auto wrong = impostor.Verify(by_old, kUuidA, kNow);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "token not valid for this instance");
}

TEST(SessionTokenTest, DerivedKeyIsSharedBySecret) {
  TokenKey a = DeriveTokenKey("secret"), b = DeriveTokenKey("secret"), c = DeriveTokenKey("other");
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_NE(a.bytes, c.bytes);
  EXPECT_EQ(a.id, 0);
  std::string t = SessionTokens({a}).Issue(kUuidA, kNow + 60, CountingRandom());
  EXPECT_TRUE(SessionTokens({b}).Verify(t, kUuidA, kNow));
  EXPECT_FALSE(SessionTokens({c}).Verify(t, kUuidA, kNow));
}

TEST(SessionTokenTest, ParseKeys) {
  auto keys = ParseTokenKeys(
      "# rotated 2024-05-01\n"
      "\n"
      "2 " +
      std::string(64, 'a') +
      "\r\n"
      "  1\t" +
      std::string(62, '0') + "Ff\n");
  ASSERT_TRUE(keys) << keys.error().ToString();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, 2);
  EXPECT_EQ((*keys)[0].bytes[0], 0xaa);
  EXPECT_EQ((*keys)[1].id, 1);
  EXPECT_EQ((*keys)[1].bytes[31], 0xff);
  EXPECT_EQ((*keys)[1].bytes[0], 0x00);
}

TEST(SessionTokenTest, ParseKeysErrors) {
  const std::string hex(64, 'b');
  struct Case {
    std::string text, error;
  };
  for (const auto& c : std::vector<Case>{
           {"", "no keys"},
           {"# only a comment\n", "no keys"},
           {hex + "\n", "line 1: expected \"ID HEX\" (a key id 0..255 and 64 hex digits)"},
           {"256 " + hex, "line 1: key id not in 0..255"},
           {"-1 " + hex, "line 1: key id not in 0..255"},
           {"1 " + hex.substr(2), "line 1: the key must be 64 hex digits (32 bytes)"},
           {"1 " + hex.substr(1) + "g", "line 1: the key must be 64 hex digits (32 bytes)"},
           {"1 " + hex + "\n\n1 " + std::string(64, 'c'), "line 3: key id 1 repeated"},
           {"1 " + hex + "\n2 " + hex, "line 2: the same key is listed twice"},
       }) {
    auto keys = ParseTokenKeys(c.text);
    ASSERT_FALSE(keys) << c.text;
    EXPECT_EQ(keys.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(keys.error().ToString(), c.error) << c.text;
  }
}

}  // namespace
}  // namespace metastack::core
