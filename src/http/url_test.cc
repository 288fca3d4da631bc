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

TEST(UrlTest, ReadsQueryParameters) {
  EXPECT_EQ(QueryParam("a=1&b=x%20y+z&a=2", "a"), "1");
  EXPECT_EQ(QueryParam("a=1&b=x%20y+z", "b"), "x y z");
  EXPECT_EQ(QueryParam("flag&a=1", "flag"), "");
  EXPECT_EQ(QueryParam("last%5Fetag=e", "last_etag"), "e");
  EXPECT_EQ(QueryParam("ab=1", "a"), std::nullopt);
  EXPECT_EQ(QueryParam("", "a"), std::nullopt);
}

TEST(UrlTest, ReadsGceWaitForChange) {
  WaitQuery q = ParseWaitQuery("recursive=true&wait_for_change=true&last_etag=0a1b&timeout_sec=30");
  EXPECT_TRUE(q.wait);
  EXPECT_EQ(q.last_etag, "0a1b");
  EXPECT_EQ(q.timeout_sec, 30);
  EXPECT_FALSE(q.bad_timeout);
  EXPECT_FALSE(ParseWaitQuery("wait_for_change=false").wait);
  EXPECT_FALSE(ParseWaitQuery("wait_for_change").wait);
  EXPECT_EQ(ParseWaitQuery("wait_for_change=true&timeout_sec=99999999999999").timeout_sec,
            kMaxWaitSeconds);
  for (std::string bad : {"0", "-5", "1.5", "x", "", "+3", " 3", "-99999999999999"})
    EXPECT_TRUE(ParseWaitQuery("timeout_sec=" + bad).bad_timeout) << bad;
}

TEST(UrlTest, HoldsOnlyWaitingRequests) {
  using std::chrono::seconds;
  EXPECT_EQ(HoldFor("/latest/meta-data/"), seconds(0));
  EXPECT_EQ(HoldFor("/latest/meta-data/?recursive=true"), seconds(0));
  EXPECT_EQ(HoldFor("/?wait_for_change=true"), seconds(kDefaultWaitSeconds));
  EXPECT_EQ(HoldFor("/?wait_for_change=true&timeout_sec=5"), seconds(5));
  EXPECT_EQ(HoldFor("/?wait_for_change=true&timeout_sec=86400"), seconds(kMaxWaitSeconds));
  EXPECT_EQ(HoldFor("/?wait_for_change=true&timeout_sec=bad"), seconds(0));
}

}  // namespace
}  // namespace metastack::http
