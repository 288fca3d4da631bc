#include "http/url.h"

#include <gtest/gtest.h>

namespace metastack::http {
namespace {

TEST(UrlTest, DecodesLikeWsgi) {
  EXPECT_EQ(PercentDecode("/openstack/latest/meta%5Fdata.json"),
            "/openstack/latest/meta_data.json");
  EXPECT_EQ(PercentDecode("/a%2Fb"), "/a/b");
  EXPECT_EQ(PercentDecode("/a+b"), "/a+b");
  EXPECT_EQ(PercentDecode("/%zz%4"), "/%zz%4");
  EXPECT_EQ(PercentDecode("%"), "%");
  EXPECT_EQ(PercentDecode("%C3%A9"), "\xc3\xa9");
}

TEST(UrlTest, EncodesAllButUnreserved) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("net a/b?c=d&e+f%"), "net%20a%2Fb%3Fc%3Dd%26e%2Bf%25");
  EXPECT_EQ(PercentEncode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(PercentEncode(std::string_view("\0\x7f\xff", 3)), "%00%7F%FF");
  EXPECT_EQ(PercentEncode(""), "");
  std::string every;
  for (int c = 0; c < 256; ++c) every += static_cast<char>(c);
  EXPECT_EQ(PercentDecode(PercentEncode(every)), every);
}

TEST(UrlTest, SplitsTheQuery) {
  PathAndQuery t = SplitTarget("/latest/meta-data/?a=1&b=%20");
  EXPECT_EQ(t.path, "/latest/meta-data/");
  EXPECT_EQ(t.query, "a=1&b=%20");
  EXPECT_EQ(SplitTarget("http://169.254.169.254/openstack?x").path, "/openstack");
  EXPECT_EQ(SplitTarget("http://169.254.169.254").path, "/");
}

}  // namespace
}  // namespace metastack::http
