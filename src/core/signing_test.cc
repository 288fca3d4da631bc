#include "core/signing.h"

#include <gtest/gtest.h>

namespace metastack::core {
namespace {

// The value Neutron's agent computes for this secret and instance (reference/neutron.md).
constexpr char kSecret[] = "peer-shared-secret";
constexpr char kInstance[] = "c0ffee00-0000-4000-8000-000000000001";
constexpr char kSignature[] = "71c0cded01c12ebb660afdcad5aac96dded2802e971ba09cf6b62c90cd8dd7ee";

TEST(SigningTest, MatchesNeutron) { EXPECT_EQ(SignInstanceId(kSecret, kInstance), kSignature); }

TEST(SigningTest, Verify) {
  EXPECT_TRUE(InstanceSigner(kSecret).Verify(kInstance, kSignature));
  EXPECT_FALSE(InstanceSigner("other").Verify(kInstance, kSignature));
  EXPECT_FALSE(InstanceSigner(kSecret).Verify(kInstance, ""));
  std::string upper = kSignature;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(InstanceSigner(kSecret).Verify(kInstance, upper));
}

// The keyed signer equals the one-shot HMAC for keys shorter than, equal to and longer than
// SHA-256's 64-byte block (a longer key is hashed first), and for any message.
TEST(SigningTest, KeyedSignerEqualsOneShot) {
  for (size_t key_len : {0, 1, 18, 63, 64, 65, 200}) {
    std::string secret(key_len, '\0');
    for (size_t i = 0; i < key_len; ++i) secret[i] = static_cast<char>(i * 37 + 11);
    InstanceSigner signer(secret);
    for (std::string_view id : {"", kInstance, "\xff\x00unicode \xc3\xa9"}) {
      std::string expected = SignInstanceId(secret, id);
      EXPECT_EQ(signer.Sign(id), expected) << "key length " << key_len;
      EXPECT_EQ(signer.Sign(id), expected) << "second use, key length " << key_len;
      EXPECT_TRUE(signer.Verify(id, expected));
    }
  }
  InstanceSigner neutron(kSecret);
  EXPECT_EQ(neutron.Sign(kInstance), kSignature);
  EXPECT_FALSE(neutron.Verify(kInstance, std::string(kSignature).substr(1)));
  EXPECT_FALSE(neutron.Verify(kInstance, ""));
  EXPECT_FALSE(InstanceSigner("other").Verify(kInstance, kSignature));
}

}  // namespace
}  // namespace metastack::core
