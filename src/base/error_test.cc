#include "base/error.h"

#include <gtest/gtest.h>

namespace metastack {
namespace {

TEST(ErrorTest, ToStringNamesTheField) {
  Error e = MakeError(ErrorCode::kInvalidArgument, "not a CIDR", "ports[0].subnets[1].cidr");
  EXPECT_EQ(e.ToString(), "ports[0].subnets[1].cidr: not a CIDR");
}

TEST(ErrorTest, ToStringWithoutField) {
  EXPECT_EQ(MakeError(ErrorCode::kNotFound, "no such instance").ToString(), "no such instance");
}

TEST(ErrorTest, CodeNames) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kConflict), "conflict");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kAborted), "aborted");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kTimeout), "timeout");
}

}  // namespace
}  // namespace metastack
