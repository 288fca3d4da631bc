#include "guest/password.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "base/base64.h"

// Our RSA encryption is checked against OpenSSL (which the guest itself may not link): real
// keys, decrypted with EVP_PKEY_decrypt and RSA_PKCS1_PADDING, as `nova get-password` does.

namespace metastack::guest {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Bn = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
using BnCtx = std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)>;

Bn NewBn() { return Bn(BN_new(), BN_free); }

Bn BnFromWord(BN_ULONG w) {
  Bn bn = NewBn();
  BN_set_word(bn.get(), w);
  return bn;
}

std::string BnBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// ---- The SSH wire form, built by hand so that tests can also build broken ones ----

std::string SshString(std::string_view bytes) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8)
    out += static_cast<char>((bytes.size() >> shift) & 0xff);
  out += bytes;
  return out;
}

// A positive mpint: big-endian, a zero byte first when the top bit is set.
std::string SshMpint(std::string bytes) {
  if (!bytes.empty() && (static_cast<uint8_t>(bytes[0]) & 0x80)) bytes.insert(0, 1, '\0');
  return SshString(bytes);
}

std::string KeyLine(std::string_view blob, std::string_view comment = " test@metastack") {
  return "ssh-rsa " + Base64Encode(blob) + std::string(comment);
}

std::string RsaBlob(const BIGNUM* e, const BIGNUM* n) {
  return SshString("ssh-rsa") + SshMpint(BnBytes(e)) + SshMpint(BnBytes(n));
}

PKey GenerateKey(int bits, BN_ULONG e) {
  auto ctx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>(
      EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  Bn exponent = BnFromWord(e);
  if (EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) <= 0 ||
      EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), exponent.get()) <= 0 ||
      EVP_PKEY_keygen(ctx.get(), &key) <= 0)
    key = nullptr;
  return PKey(key, EVP_PKEY_free);
}

std::string OpenSshLine(EVP_PKEY* key) {
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
  std::string line = KeyLine(RsaBlob(e, n));
  BN_free(n);
  BN_free(e);
  return line;
}

// The plaintext OpenSSL recovers, or nullopt when it refuses the ciphertext.
std::optional<std::string> Decrypt(EVP_PKEY* key, const std::string& ciphertext) {
  auto ctx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>(
      EVP_PKEY_CTX_new(key, nullptr), EVP_PKEY_CTX_free);
  const auto* in = reinterpret_cast<const unsigned char*>(ciphertext.data());
  size_t size = 0;
  if (EVP_PKEY_decrypt_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0 ||
      EVP_PKEY_decrypt(ctx.get(), nullptr, &size, in, ciphertext.size()) <= 0)
    return std::nullopt;
  std::string out(size, '\0');
  if (EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &size, in,
                       ciphertext.size()) <= 0)
    return std::nullopt;
  out.resize(size);
  return out;
}

struct KeyCase {
  int bits;
  BN_ULONG e;
};

class EncryptPasswordTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(EncryptPasswordTest, OpenSslDecryptsWhatWeEncrypt) {
  const KeyCase& c = GetParam();
  PKey key = GenerateKey(c.bits, c.e);
  ASSERT_TRUE(key) << "OpenSSL made no " << c.bits << "-bit key";
  const std::string line = OpenSshLine(key.get());
  const size_t k = static_cast<size_t>(c.bits + 7) / 8;

  const std::string generated = GeneratePassword();
  const std::string longest(k - 11, '\xff');  // PKCS#1 v1.5's limit, bytes of any value
  for (const std::string& password : {generated, longest, std::string("p"), std::string()}) {
    auto encrypted = EncryptPassword(line, password);
    ASSERT_TRUE(encrypted) << encrypted.error().ToString();
    EXPECT_EQ(encrypted->size(), Base64Length(k));
    auto ciphertext = Base64Decode(*encrypted);
    ASSERT_TRUE(ciphertext);
    EXPECT_EQ(Decrypt(key.get(), *ciphertext), password) << c.bits << " bits, " << password;
  }
  // The padding is random: the same password never encrypts the same way twice.
  EXPECT_NE(EncryptPassword(line, generated).value(), EncryptPassword(line, generated).value());

  auto too_long = EncryptPassword(line, std::string(k - 10, 'x'));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(too_long.error().ToString(), "key too small for the password");
}

// Nova's sizes, an odd size whose top byte is part used (1030 bits: k = 129), a modulus not a
// whole number of 32-bit words (2040 bits), e = 3, and an e longer than one word.
INSTANTIATE_TEST_SUITE_P(Keys, EncryptPasswordTest,
                         ::testing::Values(KeyCase{1024, 65537}, KeyCase{2048, 65537},
                                           KeyCase{3072, 65537}, KeyCase{4096, 65537},
                                           KeyCase{1030, 65537}, KeyCase{2040, 65537},
                                           KeyCase{2048, 3}, KeyCase{2048, 0x100000001}),
                         [](const auto& info) {
                           return std::to_string(info.param.bits) + "_e" +
                                  std::to_string(info.param.e);
                         });

// Up to 8192 bits and an e of hundreds of bits, beyond what key generation makes in a test's
// time: n is a product of 1024-bit primes (our side needs no more than n and e), d = e^-1 mod
// phi(n), and c^d mod n, computed with BN_mod_exp, must be the PKCS#1 v1.5 block itself:
// 0x00 0x02, nonzero padding, 0x00, the password.
struct RawCase {
  int primes;
  int e_bits;  // 17: 65537; else a random odd e of that many bits
};

class EncryptPasswordRawTest : public ::testing::TestWithParam<RawCase> {};

TEST_P(EncryptPasswordRawTest, DecryptsToTheEncryptionBlock) {
  const RawCase& c = GetParam();
  BnCtx ctx(BN_CTX_new(), BN_CTX_free);
  Bn n = BnFromWord(1);
  Bn phi = BnFromWord(1);
  Bn e = c.e_bits == 17 ? BnFromWord(65537) : NewBn();
  Bn d = NewBn();
  Bn gcd = NewBn();
  // primes - 1 primes of 1024 bits, then a last one sized to bring n to exactly 1024 * primes
  // bits: OpenSSL's primes have their top two bits set, so a last prime of the remaining bits
  // (+1) lands on the size or one bit over (or under), and a few draws find one that fits.
  const int target = 1024 * c.primes;
  auto multiply = [&](const BIGNUM* p) {
    BN_mul(n.get(), n.get(), p, ctx.get());
    Bn p_1(BN_dup(p), BN_free);
    BN_sub_word(p_1.get(), 1);
    BN_mul(phi.get(), phi.get(), p_1.get(), ctx.get());
  };
  for (int i = 0; i + 1 < c.primes; ++i) {
    Bn p = NewBn();
    ASSERT_EQ(BN_generate_prime_ex(p.get(), 1024, 0, nullptr, nullptr, nullptr), 1);
    multiply(p.get());
  }
  Bn last = NewBn();
  Bn product = NewBn();
  const int rest = target - BN_num_bits(n.get());
  for (int attempt = 0; attempt < 40; ++attempt) {
    ASSERT_EQ(
        BN_generate_prime_ex(last.get(), rest + 1 - attempt % 2, 0, nullptr, nullptr, nullptr), 1);
    BN_mul(product.get(), n.get(), last.get(), ctx.get());
    if (BN_num_bits(product.get()) == target) break;
  }
  multiply(last.get());
  ASSERT_EQ(BN_num_bits(n.get()), 1024 * c.primes);
  do {
    if (c.e_bits != 17) BN_rand(e.get(), c.e_bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD);
    BN_gcd(gcd.get(), e.get(), phi.get(), ctx.get());
  } while (!BN_is_one(gcd.get()));
  ASSERT_TRUE(BN_mod_inverse(d.get(), e.get(), phi.get(), ctx.get()));

  const std::string password = GeneratePassword();
  auto encrypted = EncryptPassword(KeyLine(RsaBlob(e.get(), n.get())), password);
  ASSERT_TRUE(encrypted) << encrypted.error().ToString();
  const size_t k = static_cast<size_t>(BN_num_bytes(n.get()));
  auto ciphertext = Base64Decode(*encrypted);
  ASSERT_TRUE(ciphertext);
  ASSERT_EQ(ciphertext->size(), k);

  Bn cipher(BN_bin2bn(reinterpret_cast<const unsigned char*>(ciphertext->data()),
                      static_cast<int>(k), nullptr),
            BN_free);
  Bn m = NewBn();
  ASSERT_EQ(BN_mod_exp(m.get(), cipher.get(), d.get(), n.get(), ctx.get()), 1);
  std::string block(k, '\0');
  ASSERT_EQ(
      BN_bn2binpad(m.get(), reinterpret_cast<unsigned char*>(block.data()), static_cast<int>(k)),
      static_cast<int>(k));
  const size_t padding = k - 3 - password.size();
  EXPECT_EQ(block.substr(0, 2), std::string("\x00\x02", 2));
  EXPECT_EQ(block.substr(2, padding).find('\0'), std::string::npos);
  EXPECT_EQ(block.substr(2 + padding), std::string(1, '\0') + password);
}

INSTANTIATE_TEST_SUITE_P(Moduli, EncryptPasswordRawTest,
                         ::testing::Values(RawCase{8, 17}, RawCase{4, 1000}, RawCase{2, 2047}),
                         [](const auto& info) {
                           return std::to_string(info.param.primes * 1024) + "_bits_e" +
                                  std::to_string(info.param.e_bits) + "_bits";
                         });

TEST(EncryptPasswordTest, KeyLinesAsMetadataCarriesThem) {
  PKey key = GenerateKey(1024, 65537);
  ASSERT_TRUE(key);
  const std::string line = OpenSshLine(key.get());
  const std::string blob = Base64Encode(*Base64Decode(line.substr(8, line.find(' ', 8) - 8)));
  for (const std::string& variant :
       {"ssh-rsa " + blob, "ssh-rsa " + blob + "\n", "  ssh-rsa\t" + blob + "\tGenerated-by-Nova\n",
        "ssh-rsa " + blob + " a comment with spaces"}) {
    auto encrypted = EncryptPassword(variant, "secret");
    ASSERT_TRUE(encrypted) << variant << ": " << encrypted.error().ToString();
    EXPECT_EQ(Decrypt(key.get(), *Base64Decode(*encrypted)), "secret") << variant;
  }
}

TEST(EncryptPasswordTest, RefusesWhatIsNotAnRsaKeyItCanUse) {
  // A stand-in modulus: 1024 bits, odd; e = 65537.
  const std::string n = "\xc5" + std::string(126, '\x5a') + "\x01";
  const std::string e("\x01\x00\x01", 3);
  const std::string good = SshString("ssh-rsa") + SshMpint(e) + SshMpint(n);
  ASSERT_TRUE(EncryptPassword(KeyLine(good), "pw"));

  const std::string n512 = "\xc5" + std::string(62, '\x5a') + "\x01";
  const std::string n8200 = "\xc5" + std::string(1023, '\x5a') + "\x01";
  struct Case {
    std::string line;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "not an ssh-rsa key"},
      {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGo0hD1kPjWSNy6gA7v5e8DQxP2dk8sMqL+K2hk3sX5E x",
       "not an ssh-rsa key"},
      {"ecdsa-sha2-nistp256 " + Base64Encode(good), "not an ssh-rsa key"},
      {"ssh-rsax " + Base64Encode(good), "not an ssh-rsa key"},
      {"from=\"10.0.0.1\" ssh-rsa " + Base64Encode(good), "not an ssh-rsa key"},
      {"ssh-rsa", "malformed key"},
      {"ssh-rsa !!!!", "malformed key"},
      {"ssh-rsa " + Base64Encode(good).substr(1), "malformed key"},
      {KeyLine(good + std::string(1, '\0')), "malformed key"},      // a byte after n
      {KeyLine(good.substr(0, good.size() - 1)), "malformed key"},  // n cut short
      {KeyLine(SshString("ssh-dss") + SshMpint(e) + SshMpint(n)), "malformed key"},
      {KeyLine(SshString("ssh-rsa") + SshMpint(e) + SshString(n)), "malformed key"},   // n < 0
      {KeyLine(SshString("ssh-rsa") + SshMpint(e) + SshString("")), "malformed key"},  // n = 0
      {KeyLine(SshString("ssh-rsa") + SshMpint(e) + SshMpint(n.substr(0, 127) + "\x02")),
       "malformed key"},  // n even
      {KeyLine(SshString("ssh-rsa") + SshMpint(std::string("\x01\x00\x02", 3)) + SshMpint(n)),
       "malformed key"},
      {KeyLine(SshString("ssh-rsa") + SshMpint("\x01") + SshMpint(n)), "malformed key"},  // e = 1
      {KeyLine(SshString("ssh-rsa") + SshMpint(n) + SshMpint(n)), "malformed key"},       // e = n
      {KeyLine(SshString("ssh-rsa") + SshMpint(e) + SshMpint(n512)),
       "key of 512 bits: 1024 to 8192 bits are supported"},
      {KeyLine(SshString("ssh-rsa") + SshMpint(e) + SshMpint(n8200)),
       "key of 8200 bits: 1024 to 8192 bits are supported"},
  };
  for (const auto& c : cases) {
    auto encrypted = EncryptPassword(c.line, "pw");
    ASSERT_FALSE(encrypted) << c.line;
    EXPECT_EQ(encrypted.error().code, ErrorCode::kInvalidArgument) << c.line;
    EXPECT_EQ(encrypted.error().ToString(), c.error) << c.line;
  }
}

TEST(GeneratePasswordTest, TwentyAlphanumericsWithEveryClass) {
  std::set<std::string> seen;
  std::set<char> characters;
  for (int i = 0; i < 1000; ++i) {
    std::string password = GeneratePassword();
    ASSERT_EQ(password.size(), kGeneratedPasswordLength);
    bool lower = false, upper = false, digit = false;
    for (char c : password) {
      lower |= c >= 'a' && c <= 'z';
      upper |= c >= 'A' && c <= 'Z';
      digit |= c >= '0' && c <= '9';
      characters.insert(c);
    }
    EXPECT_TRUE(lower && upper && digit) << password;
    seen.insert(password);
  }
  EXPECT_EQ(seen.size(), 1000u);
  // 20000 draws: each of the 62 characters is expected ~320 times, and no other may appear.
  EXPECT_EQ(characters.size(), 62u);
  EXPECT_EQ(std::string(characters.begin(), characters.end()),
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
}

// ---- /etc/shadow ----

std::vector<std::string> Fields(std::string_view line) {
  std::vector<std::string> out;
  size_t at = 0;
  for (;;) {
    size_t colon = line.find(':', at);
    out.emplace_back(line.substr(at, colon - at));
    if (colon == std::string_view::npos) return out;
    at = colon + 1;
  }
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    out.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

bool CryptMatches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* again = crypt_r(password.c_str(), hash.c_str(), data.get());
  return again != nullptr && hash == again;
}

long Today() { return static_cast<long>(std::time(nullptr) / 86400); }

const std::string kShadow =
    "root:*:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "debian:!:0:0:99999:7:::\n"
    "debian2:$6$abcdefgh$xyz:19500:1:2:3:4:5:\n";

TEST(ShadowWithPasswordTest, ReplacesTheHashAndLastChangeOfThatUserOnly) {
  const long before = Today();
  auto shadow = ShadowWithPassword(kShadow, "debian", "s3cret:with\ncolon");
  const long after = Today();
  ASSERT_TRUE(shadow) << shadow.error().ToString();
  auto old_lines = Lines(kShadow);
  auto new_lines = Lines(*shadow);
  ASSERT_EQ(new_lines.size(), old_lines.size());
  for (size_t i = 0; i < old_lines.size(); ++i) {
    if (i != 2) {
      EXPECT_EQ(new_lines[i], old_lines[i]);
    }
  }
  EXPECT_TRUE(shadow->ends_with("\n"));

  auto fields = Fields(new_lines[2]);
  ASSERT_EQ(fields.size(), 9u) << new_lines[2];
  EXPECT_EQ(fields[0], "debian");
  const std::string& hash = fields[1];
  ASSERT_TRUE(hash.starts_with("$6$")) << hash;
  const std::string salt = hash.substr(3, hash.find('$', 3) - 3);
  EXPECT_EQ(salt.size(), 16u) << hash;
  EXPECT_EQ(
      salt.find_first_not_of("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
      std::string::npos);
  EXPECT_TRUE(CryptMatches("s3cret:with\ncolon", hash));
  EXPECT_FALSE(CryptMatches("s3cret:with\ncolo", hash));
  const long lastchg = std::stol(fields[2]);
  EXPECT_TRUE(lastchg == before || lastchg == after) << fields[2];
  EXPECT_EQ(new_lines[2], "debian:" + hash + ":" + fields[2] + ":0:99999:7:::");

  // A fresh salt each time.
  auto again = ShadowWithPassword(kShadow, "debian", "s3cret:with\ncolon");
  ASSERT_TRUE(again);
  EXPECT_NE(Fields(Lines(*again)[2])[1], hash);
}

TEST(ShadowWithPasswordTest, KeepsEveryOtherByteOfTheLine) {
  // The last line, without a line end; the fields after lastchg carry values.
  const std::string text = "root:*:19000:0:99999:7:::\nalice:!*:19500:1:2:3:4:5:x";
  auto shadow = ShadowWithPassword(text, "alice", "pw");
  ASSERT_TRUE(shadow) << shadow.error().ToString();
  ASSERT_TRUE(shadow->starts_with("root:*:19000:0:99999:7:::\nalice:$6$"));
  auto fields = Fields(Lines(*shadow)[1]);
  ASSERT_EQ(fields.size(), 9u);
  EXPECT_TRUE(CryptMatches("pw", fields[1]));
  EXPECT_TRUE(shadow->ends_with(":1:2:3:4:5:x")) << *shadow;

  // Three fields only (no ':' after lastchg), and an empty lastchg.
  for (const std::string& short_line : {std::string("alice:x:123"), std::string("alice:x:")}) {
    auto s = ShadowWithPassword(short_line, "alice", "pw");
    ASSERT_TRUE(s) << short_line;
    auto f = Fields(*s);
    ASSERT_EQ(f.size(), 3u) << *s;
    EXPECT_TRUE(CryptMatches("pw", f[1]));
    EXPECT_EQ(f[2], std::to_string(std::stol(f[2])));
  }
}

TEST(ShadowWithPasswordTest, SaysWhenTheUserIsMissingOrItsLineBroken) {
  struct Case {
    std::string shadow;
    std::string user;
    ErrorCode code;
    std::string error;
  };
  const std::vector<Case> cases = {
      {kShadow, "alice", ErrorCode::kNotFound, "user alice: not in /etc/shadow"},
      {kShadow, "debia", ErrorCode::kNotFound, "user debia: not in /etc/shadow"},
      {kShadow, "", ErrorCode::kNotFound, "user : not in /etc/shadow"},
      {"", "root", ErrorCode::kNotFound, "user root: not in /etc/shadow"},
      {"#root:*:1:::::\n", "root", ErrorCode::kNotFound, "user root: not in /etc/shadow"},
      {"root:*\n", "root", ErrorCode::kInvalidArgument, "user root: malformed /etc/shadow line"},
      {"root\n", "root", ErrorCode::kInvalidArgument, "user root: malformed /etc/shadow line"},
  };
  for (const auto& c : cases) {
    auto shadow = ShadowWithPassword(c.shadow, c.user, "pw");
    ASSERT_FALSE(shadow) << c.shadow;
    EXPECT_EQ(shadow.error().code, c.code) << c.shadow;
    EXPECT_EQ(shadow.error().ToString(), c.error) << c.shadow;
  }
}

TEST(ShadowWithPasswordTest, RefusesPasswordsCryptWouldCutShort) {
  ASSERT_TRUE(ShadowWithPassword(kShadow, "debian", std::string(511, 'x')));
  struct Case {
    std::string password;
    std::string error;
  };
  const std::vector<Case> cases = {
      {std::string("ab\0cd", 5), "password: contains a NUL byte"},
      {std::string(512, 'x'), "password: longer than 511 bytes"},
  };
  for (const auto& c : cases) {
    auto shadow = ShadowWithPassword(kShadow, "debian", c.password);
    ASSERT_FALSE(shadow) << c.error;
    EXPECT_EQ(shadow.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(shadow.error().ToString(), c.error);
  }
}

}  // namespace
}  // namespace metastack::guest
