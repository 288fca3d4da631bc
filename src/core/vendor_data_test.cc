#include "core/vendor_data.h"

#include <gtest/gtest.h>

#include "core/testdata.h"

namespace metastack::core {
namespace {

TEST(DynamicVendorDataRequestTest, NovasBodyByteForByte) {
  Instance inst = ParseInstanceJson(testing::ExampleDocument()).value();
  // What Nova's jsonutils.dumps(body) writes for the same instance (keys in Nova's order).
  EXPECT_EQ(DynamicVendorDataRequest(inst),
            R"({"project-id": "3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41", )"
            R"("instance-id": "b65cee2f-8c69-4aeb-be2f-f79742548fc2", "image-id": null, )"
            R"("user-data": "I2Nsb3VkLWNvbmZpZwo=", "hostname": "web-01", )"
            R"("metadata": {"role": "web", "tier": "frontend"}, "boot-roles": ""})");
}

TEST(DynamicVendorDataRequestTest, AbsentUserDataIsNullAndTextIsEscapedAsPython) {
  Instance inst =
      testing::InstanceWithPort("11111111-2222-4333-8444-555555555555", "net", "10.0.0.5");
  inst.image_id = "img-1";
  inst.meta = {{"k\u00e9", "v\n"}};
  EXPECT_EQ(
      DynamicVendorDataRequest(inst),
      R"({"project-id": "proj-a", "instance-id": "11111111-2222-4333-8444-555555555555", "image-id": "img-1", )"
      R"("user-data": null, "hostname": "vm", "metadata": {"k\u00e9": "v\n"}, )"
      R"("boot-roles": ""})");
}

TEST(ParseDynamicVendorDataAnswerTest, AsNovaReadsIt) {
  EXPECT_EQ(ParseDynamicVendorDataAnswer("").value(), Json::object());
  EXPECT_EQ(ParseDynamicVendorDataAnswer(R"({"b": 1, "a": [true]})").value().dump(),
            R"({"b":1,"a":[true]})");
  EXPECT_EQ(ParseDynamicVendorDataAnswer(" \"text\" \n").value(), Json("text"));
  EXPECT_EQ(ParseDynamicVendorDataAnswer("null").value(), Json(nullptr));
  for (std::string_view bad : {"<html>", " ", "{\"a\": 1", "{} {}"}) {
    auto r = ParseDynamicVendorDataAnswer(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message, "not JSON");
  }
}

}  // namespace
}  // namespace metastack::core
