#include "core/ownership.h"

#include <gtest/gtest.h>

namespace metastack::core {
namespace {

Instance WithPorts() {
  Instance inst;
  Port a;
  a.mac = "fa:16:3e:12:34:56";
  Subnet v4;
  v4.ip_address = "10.0.0.5";
  Subnet v6;
  v6.ip_address = "2001:db8::5";
  Subnet unaddressed;  // a subnet the port has no fixed IP in
  a.subnets = {v4, v6, unaddressed};
  Port b;
  b.mac = "02:00:00:00:00:01";
  Subnet b4;
  b4.ip_address = "192.168.1.9";
  b.subnets = {b4};
  inst.ports = {a, b};
  return inst;
}

TEST(CanonicalMacTest, Lowercase) {
  EXPECT_EQ(CanonicalMac("FA:16:3E:12:34:56"), "fa:16:3e:12:34:56");
  EXPECT_EQ(CanonicalMac("fa:16:3e:12:34:56"), "fa:16:3e:12:34:56");
}

TEST(LinkLocalMacTest, AsOsloReadsTheInterfaceId) {
  struct Case {
    const char* address;
    const char* mac;
  } cases[] = {
      // Neutron's metadata agent (issue 13) and oslo_utils' own tests.
      {"fe80::f816:3eff:fe00:407", "fa:16:3e:00:04:07"},
      {"fe80::5054:ff:fede:5bbf", "52:54:00:de:5b:bf"},
      {"fe80::5054:ff:fe42:219", "52:54:00:42:02:19"},
      {"fe80::ff:fe00:0", "02:00:00:00:00:00"},
      {"fe80::200:ff:fe00:0", "00:00:00:00:00:00"},
      // Anywhere in fe80::/10, and the middle bytes dropped whether or not they are ff:fe.
      {"febf::f816:3eff:fe00:407", "fa:16:3e:00:04:07"},
      {"fe80:1:2:3:f816:3eff:fe00:407", "fa:16:3e:00:04:07"},
      {"fe80::1234:5678:9abc:def0", "10:34:56:bc:de:f0"},
      {"FE80::F816:3EFF:FE00:0407", "fa:16:3e:00:04:07"},
  };
  for (const auto& c : cases) EXPECT_EQ(LinkLocalMac(*ParseIp(c.address)), c.mac) << c.address;
  // What a guest with MAC fa:16:3e:12:34:56 forms (modified EUI-64) names that MAC again.
  EXPECT_EQ(LinkLocalMac(*ParseIp("fe80::f816:3eff:fe12:3456")), "fa:16:3e:12:34:56");
}

TEST(LinkLocalMacTest, NoneOutsideFe80Slash10) {
  for (const char* address :
       {"10.0.0.5", "169.254.1.2", "::ffff:10.0.0.5", "2001:db8::216:3eff:fe33:4455",
        "fec0::f816:3eff:fe00:407", "fe00::f816:3eff:fe00:407", "fd00::f816:3eff:fe00:407", "::1"})
    EXPECT_EQ(LinkLocalMac(*ParseIp(address)), std::nullopt) << address;
}

TEST(OwnsAddressTest, FixedIpsAndLinkLocalOfEveryPort) {
  Instance inst = WithPorts();
  struct Case {
    const char* address;
    bool owned;
  } cases[] = {
      {"10.0.0.5", true},
      {"::ffff:10.0.0.5", true},  // as the proxy forwards an IPv4 guest on a dual-stack socket
      {"2001:db8::5", true},
      {"2001:db8:0:0::5", true},
      {"192.168.1.9", true},  // the second port
      {"fe80::f816:3eff:fe12:3456", true},
      {"fe80::ff:fe00:1", true},
      {"FE80::F816:3EFF:FE12:3456", true},
      // Any link-local address that names the MAC, as the agent finds the port by it.
      {"fe80:1::f816:3eff:fe12:3456", true},
      {"fe80::f816:3e00:0012:3456", true},
      {"10.0.0.7", false},
      {"10.0.0.50", false},
      {"2001:db8::6", false},
      {"fe80::f816:3eff:fe12:3457", false},
      {"::ffff:10.0.0.7", false},
  };
  OwnedAddresses owned = AddressesOf(inst);
  for (const auto& c : cases) EXPECT_EQ(owned.Contains(*ParseIp(c.address)), c.owned) << c.address;
}

TEST(OwnsAddressTest, AnInstanceWithoutPortsOwnsNothing) {
  Instance inst;
  EXPECT_TRUE(AddressesOf(inst).fixed.empty());
  EXPECT_FALSE(AddressesOf(inst).Contains(*ParseIp("10.0.0.5")));
  EXPECT_FALSE(AddressesOf(WithPorts()).fixed.empty());
}

}  // namespace
}  // namespace metastack::core
