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
  EXPECT_TRUE(VerifyInstanceSignature(kSecret, kInstance, kSignature));
  EXPECT_FALSE(VerifyInstanceSignature("other", kInstance, kSignature));
  EXPECT_FALSE(VerifyInstanceSignature(kSecret, kInstance, ""));
  std::string upper = kSignature;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_FALSE(VerifyInstanceSignature(kSecret, kInstance, upper));
}

}  // namespace
}  // namespace metastack::core
