#include "http/url.h"

#include <gtest/gtest.h>

namespace metastack::http {
namespace {

TEST(UrlTest, DecodesLikeWsgi) {
  EXPECT_EQ(PercentDecode("/openstack/latest/meta%5Fdata.json"), "/openstack/latest/meta_data.json");
  EXPECT_EQ(PercentDecode("/a%2Fb"), "/a/b");
  EXPECT_EQ(PercentDecode("/a+b"), "/a+b");
  EXPECT_EQ(PercentDecode("/%zz%4"), "/%zz%4");
  EXPECT_EQ(PercentDecode("%"), "%");
  EXPECT_EQ(PercentDecode("%C3%A9"), "\xc3\xa9");
}

TEST(UrlTest, SplitsTheQuery) {
  Target t = SplitTarget("/latest/meta-data/?a=1&b=%20");
  EXPECT_EQ(t.path, "/latest/meta-data/");
  EXPECT_EQ(t.query, "a=1&b=%20");
  EXPECT_EQ(SplitTarget("http://169.254.169.254/openstack?x").path, "/openstack");
  EXPECT_EQ(SplitTarget("http://169.254.169.254").path, "/");
}

}  // namespace
}  // namespace metastack::http
