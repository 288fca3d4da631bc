#include "core/network_data.h"

#include <gtest/gtest.h>

#include "core/testdata.h"

namespace metastack::core {
namespace {

Instance Example() { return *ParseInstanceJson(testing::ExampleDocument()); }

TEST(NetworkDataTest, StaticIpv4) {
  auto nd = NetworkData(Example());
  ASSERT_TRUE(nd);
  EXPECT_EQ(
      DumpPython(*nd),
      R"({"links": [{"id": "tap1f8b2e6a-3c", "vif_id": "1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", )"
      R"("type": "ovs", "mtu": 1450, "ethernet_mac_address": "fa:16:3e:12:34:56"}], )"
      R"("networks": [{"id": "network0", "type": "ipv4", "link": "tap1f8b2e6a-3c", )"
      R"("ip_address": "10.0.0.5", "netmask": "255.255.255.0", "routes": [{"network": )"
      R"("0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}, {"network": "192.168.0.0", )"
      R"("netmask": "255.255.0.0", "gateway": "10.0.0.254"}], "network_id": )"
      R"("7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b", "services": [{"type": "dns", "address": )"
      R"("10.0.0.2"}, {"type": "dns", "address": "8.8.8.8"}]}], "services": [{"type": "dns", )"
      R"("address": "10.0.0.2"}, {"type": "dns", "address": "8.8.8.8"}]})");
}

TEST(NetworkDataTest, DhcpHidesMtuAndAddress) {
  Instance inst = Example();
  inst.ports[0].subnets[0].enable_dhcp = true;
  inst.ports[0].vif_type = "other";
  Json nd = *NetworkData(inst);
  EXPECT_EQ(DumpPython(nd["links"][0]["mtu"]), "null");
  EXPECT_EQ(nd["links"][0]["type"], "phy");
  EXPECT_EQ(DumpPython(nd["networks"][0]),
            R"({"id": "network0", "type": "ipv4_dhcp", "link": "tap1f8b2e6a-3c", )"
            R"("network_id": "7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b"})");
}

TEST(NetworkDataTest, Ipv6Slaac) {
  Instance inst = Example();
  Subnet v6;
  v6.cidr = "2001:db8:0:1::/64";
  v6.version = 6;
  v6.gateway_ip = "2001:db8:0:1::1";
  v6.ipv6_address_mode = "slaac";
  v6.ip_address = "2001:db8:0:1:f816:3eff:fe12:3456";
  inst.ports[0].subnets.push_back(v6);
  Json nd = *NetworkData(inst);
  ASSERT_EQ(nd["networks"].size(), 2u);
  EXPECT_EQ(
      DumpPython(nd["networks"][1]),
      R"({"id": "network1", "type": "ipv6_slaac", "link": "tap1f8b2e6a-3c", )"
      R"("ip_address": "2001:db8:0:1:f816:3eff:fe12:3456", "netmask": "ffff:ffff:ffff:ffff::", )"
      R"("routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:0:1::1"}], )"
      R"("network_id": "7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b", "services": []})");
}

TEST(NetworkDataTest, NoPorts) {
  Instance inst = Example();
  inst.ports.clear();
  EXPECT_FALSE(NetworkData(inst));
  EXPECT_FALSE(InjectedInterfaces(inst));
}

TEST(NetworkDataTest, InjectedInterfaces) {
  Instance inst = Example();
  EXPECT_FALSE(InjectedInterfaces(inst));
  inst.ports[0].injected = true;
  EXPECT_EQ(*InjectedInterfaces(inst),
            "# Injected by Nova on instance boot\n#\n"
            "# This file describes the network interfaces available on your system\n"
            "# and how to activate them. For more information, see interfaces(5).\n\n"
            "# The loopback network interface\nauto lo\niface lo inet loopback\n\n"
            "auto eth0\niface eth0 inet static\n    hwaddress ether fa:16:3e:12:34:56\n"
            "    address 10.0.0.5\n    netmask 255.255.255.0\n    broadcast 10.0.0.255\n"
            "    gateway 10.0.0.1\n    dns-nameservers 10.0.0.2 8.8.8.8\n");
  inst.ports[0].subnets[0].enable_dhcp = true;  // a DHCP subnet is never injected
  EXPECT_FALSE(InjectedInterfaces(inst));
}

TEST(NetworkDataTest, Ec2Addresses) {
  Instance inst = Example();
  auto ips = Ec2Addresses(inst);
  EXPECT_EQ(ips.fixed_ipv4, std::vector<std::string>{"10.0.0.5"});
  EXPECT_EQ(ips.floating_ipv4, std::vector<std::string>{"203.0.113.10"});
}

}  // namespace
}  // namespace metastack::core
