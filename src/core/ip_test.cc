#include "core/ip.h"

#include <gtest/gtest.h>

#include <vector>

namespace metastack::core {
namespace {

TEST(IpTest, NetmaskNetworkBroadcastLikeNetaddr) {
  struct Case {
    const char* cidr;
    const char* network;
    const char* netmask;
    const char* broadcast;  // nullptr: none
  } cases[] = {
      {"10.1.2.3/24", "10.1.2.0", "255.255.255.0", "10.1.2.255"},
      {"10.1.2.3/31", "10.1.2.2", "255.255.255.254", nullptr},
      {"10.1.2.3/32", "10.1.2.3", "255.255.255.255", nullptr},
      {"0.0.0.0/0", "0.0.0.0", "0.0.0.0", "255.255.255.255"},
      {"2001:db8:0:1::5/64",
       "2001:db8:0:1::", "ffff:ffff:ffff:ffff::", "2001:db8:0:1:ffff:ffff:ffff:ffff"},
      {"fd00:1:2:3:4:5:6:7/120", "fd00:1:2:3:4:5:6:0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00",
       "fd00:1:2:3:4:5:6:ff"},
      {"::/0", "::", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
  };
  for (const auto& c : cases) {
    auto cidr = ParseCidr(c.cidr);
    ASSERT_TRUE(cidr) << c.cidr;
    EXPECT_EQ(cidr->Network().ToString(), c.network) << c.cidr;
    EXPECT_EQ(cidr->Netmask().ToString(), c.netmask) << c.cidr;
    auto b = cidr->Broadcast();
    if (c.broadcast)
      EXPECT_EQ(b ? b->ToString() : "none", c.broadcast) << c.cidr;
    else
      EXPECT_FALSE(b) << c.cidr;
  }
}

TEST(IpTest, CanonicalTextAsNetaddr) {
  EXPECT_EQ(ParseIp("2001:0:1:0:1:0:1:0")->ToString(), "2001:0:1:0:1:0:1:0");
  EXPECT_EQ(ParseIp("1:0:0:2:0:0:0:3")->ToString(), "1:0:0:2::3");
  EXPECT_EQ(ParseIp("0:0:0:0:0:0:0:1")->ToString(), "::1");
  EXPECT_EQ(ParseIp("::ffff:1.2.3.4")->ToString(), "::ffff:1.2.3.4");
}

TEST(IpTest, Unmapped) {
  EXPECT_EQ(ParseIp("::ffff:10.0.0.5")->Unmapped(), *ParseIp("10.0.0.5"));
  EXPECT_EQ(ParseIp("fe80::1")->Unmapped(), *ParseIp("fe80::1"));
}

TEST(IpTest, RejectsMalformed) {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "1::2::3", "10.0.0.1 ", "x"})
    EXPECT_FALSE(ParseIp(bad)) << bad;
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "::/129",
                          "10.0.0.0/24x", "10.0.0.0/0024"})
    EXPECT_FALSE(ParseCidr(bad)) << bad;
}

TEST(IpTest, Contains) {
  auto c = *ParseCidr("10.0.0.0/24");
  EXPECT_TRUE(c.Contains(*ParseIp("10.0.0.200")));
  EXPECT_FALSE(c.Contains(*ParseIp("10.0.1.1")));
  EXPECT_FALSE(c.Contains(*ParseIp("::1")));
}

TEST(IpTest, Mac) {
  EXPECT_TRUE(IsMacAddress("fa:16:3e:12:34:56"));
  EXPECT_TRUE(IsMacAddress("FA:16:3E:AB:cd:EF"));
  EXPECT_FALSE(IsMacAddress("fa:16:3e:12:34"));
  EXPECT_FALSE(IsMacAddress("fa-16-3e-12-34-56"));
  EXPECT_FALSE(IsMacAddress("fa:16:3e:12:34:5g"));
}

}  // namespace
}  // namespace metastack::core

namespace metastack::core {
namespace {

TEST(ForwardedForTest, SkipsTrustedHopsFromTheRight) {
  std::vector<Cidr> trusted = {*ParseCidr("10.1.0.0/16"), *ParseCidr("fd00::/8")};
  EXPECT_TRUE(InAnyOf(*ParseIp("::ffff:10.1.2.3"), trusted));
  EXPECT_FALSE(InAnyOf(*ParseIp("10.2.0.1"), trusted));
  EXPECT_EQ(FirstForwardedFor("  10.0.0.5 , 10.1.0.1"), "10.0.0.5");

  auto hop = SkipTrustedHops("172.16.0.9, 10.0.0.5 ,10.1.0.1, fd00::1", trusted);
  ASSERT_TRUE(hop);
  EXPECT_EQ(hop->client, "10.0.0.5");
  EXPECT_EQ(hop->before, "172.16.0.9");
  hop = SkipTrustedHops("10.0.0.5", trusted);
  ASSERT_TRUE(hop);
  EXPECT_EQ(hop->client, "10.0.0.5");
  EXPECT_EQ(hop->before, "");
  // An item that is no address stops the walk: it is the client, as written.
  hop = SkipTrustedHops("10.0.0.5, bogus, 10.1.0.1", trusted);
  ASSERT_TRUE(hop);
  EXPECT_EQ(hop->client, "bogus");
  EXPECT_EQ(hop->before, "10.0.0.5");
  EXPECT_FALSE(SkipTrustedHops("10.1.0.1, fd00::2", trusted));
  EXPECT_FALSE(SkipTrustedHops("", trusted));
}

}  // namespace
}  // namespace metastack::core
