#include "guest/network_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace metastack::guest {
namespace {

using Nics = std::map<std::string, std::string>;

// network_data.json as Nova writes it (the shapes of src/core/network_data_test.cc and of
// cloud-init's tests/unittests/sources/test_configdrive.py).
constexpr const char* kStaticV4 = R"({
  "links": [{"id": "tap1f8b2e6a-3c", "vif_id": "1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
             "type": "ovs", "mtu": 1450, "ethernet_mac_address": "fa:16:3e:12:34:56"}],
  "networks": [{"id": "network0", "type": "ipv4", "link": "tap1f8b2e6a-3c",
                "ip_address": "10.0.0.5", "netmask": "255.255.255.0",
                "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
                           {"network": "192.168.0.0", "netmask": "255.255.0.0",
                            "gateway": "10.0.0.254"}],
                "network_id": "7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b",
                "services": [{"type": "dns", "address": "10.0.0.2"}]}],
  "services": [{"type": "dns", "address": "10.0.0.2"}, {"type": "dns", "address": "8.8.8.8"}]})";

constexpr const char* kDualStackAndDhcp = R"({
  "links": [{"id": "tap77a0dc5b-72", "type": "tap", "mtu": null,
             "ethernet_mac_address": "FA:16:3E:DD:50:9A"},
            {"id": "tap7d6b7bec-93", "type": null, "mtu": null,
             "ethernet_mac_address": "fa:16:3e:a8:14:69"}],
  "networks": [{"id": "network0", "type": "ipv4", "link": "tap77a0dc5b-72",
                "ip_address": "172.17.48.18", "netmask": "255.255.255.128",
                "routes": [{"netmask": "0.0.0.0", "network": "0.0.0.0",
                            "gateway": "172.17.48.1"}]},
               {"id": "network1", "type": "ipv6", "link": "tap77a0dc5b-72",
                "ip_address": "fdb8:52d0:9d14:0:f816:3eff:fe9f:70d",
                "netmask": "ffff:ffff:ffff:ffff::",
                "routes": [{"netmask": "::", "network": "::", "gateway": "fdb8:52d0:9d14::1"}]},
               {"id": "network2", "type": "ipv4_dhcp", "link": "tap7d6b7bec-93"},
               {"id": "network3", "type": "ipv6_dhcpv6-stateful", "link": "tap7d6b7bec-93",
                "ip_address": "2001:db8::7", "netmask": "ffff:ffff:ffff:ffff::", "routes": []}],
  "services": []})";

constexpr const char* kSlaacStateless = R"({
  "links": [{"id": "a", "type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01"},
            {"id": "b", "type": "hw_veb", "ethernet_mac_address": "fa:16:3e:00:00:02"}],
  "networks": [{"id": "network0", "type": "ipv6_slaac", "link": "a",
                "ip_address": "2001:db8:0:1:f816:3eff:fe00:1", "netmask": "ffff:ffff:ffff:ffff::",
                "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:0:1::1"}]},
               {"id": "network1", "type": "ipv6_dhcpv6-stateless", "link": "b",
                "ip_address": "2001:db8:0:2:f816:3eff:fe00:2", "netmask": "ffff:ffff:ffff:ffff::",
                "routes": []},
               {"id": "network2", "type": "ipv6_dhcp", "link": "b"}],
  "services": [{"type": "dns", "address": "2001:db8::53"}]})";

constexpr const char* kBondVlan = R"({
  "links": [{"ethernet_mac_address": "0c:c4:7a:34:6e:3c", "id": "eth0", "mtu": 1500,
             "type": "phy"},
            {"ethernet_mac_address": "0c:c4:7a:34:6e:3d", "id": "eth1", "mtu": 1500,
             "type": "phy"},
            {"bond_links": ["eth0", "eth1"], "bond_miimon": 100, "bond_mode": "4",
             "bond_xmit_hash_policy": "layer3+4", "ethernet_mac_address": "fa:16:3e:b3:72:36",
             "id": "bond0", "type": "bond"},
            {"ethernet_mac_address": "fa:16:3e:b3:72:30", "id": "vlan2", "type": "vlan",
             "vlan_id": 602, "vlan_link": "bond0", "vlan_mac_address": "fa:16:3e:b3:72:30"}],
  "networks": [{"id": "network2-ipv4", "ip_address": "2.2.2.13", "link": "vlan2",
                "netmask": "255.255.255.248", "type": "ipv4",
                "routes": [{"netmask": "0.0.0.0", "network": "0.0.0.0", "gateway": "2.2.2.9"}]}],
  "services": [{"type": "dns", "address": "1.1.1.191"}]})";

constexpr const char* kVlanExtras = R"({
  "links": [{"ethernet_mac_address": "fa:16:3e:69:b0:58", "id": "eth0", "mtu": 1500,
             "type": "phy"},
            {"id": "vlan1", "type": "vlan", "vlan_id": 602, "vlan_link": "eth0",
             "vlan_mac_address": "fa:16:3e:b3:72:30", "mtu": 1496}],
  "networks": [{"id": "network1-ipv4", "ip_address": "10.0.1.5/29", "link": "vlan1",
                "type": "static", "gateway": "10.0.1.1", "dns_nameservers": "10.0.1.2",
                "dns_search": ["corp.example"],
                "routes": [{"netmask": "255.255.255.255", "network": "192.168.1.0",
                            "gateway": "10.0.1.1", "metric": 50}]}],
  "services": [{"type": "dns", "address": ["1.1.1.191", "1.1.1.4"], "search": "example.org"},
               {"type": "ntp", "address": "10.0.1.3"}]})";

struct RenderCase {
  const char* name;
  const char* network_data;
  Nics nics;
  std::vector<std::pair<std::string, std::string>> networkd;  // path, contents
  std::string interfaces;
};

const std::vector<RenderCase>& RenderCases() {
  static const std::vector<RenderCase> cases = {
      {"StaticV4WithRoutesAndDns",
       kStaticV4,
       {{"fa:16:3e:12:34:56", "ens3"}},
       {{"/etc/systemd/network/10-metastack-ens3.network",
         "[Match]\nMACAddress=fa:16:3e:12:34:56\nName=ens3\nType=ether\n\n"
         "[Link]\nMTUBytes=1450\n\n"
         "[Network]\nDHCP=no\nDNS=10.0.0.2 8.8.8.8\n\n"
         "[Address]\nAddress=10.0.0.5/24\n\n"
         "[Route]\nDestination=0.0.0.0/0\nGateway=10.0.0.1\n\n"
         "[Route]\nDestination=192.168.0.0/16\nGateway=10.0.0.254\n"}},
       "# Written by metastack-guest from network_data.json.\n"
       "auto lo\niface lo inet loopback\n    dns-nameservers 10.0.0.2 8.8.8.8\n\n"
       "auto ens3\niface ens3 inet static\n    address 10.0.0.5/24\n    mtu 1450\n"
       "    post-up ip -4 route add 0.0.0.0/0 via 10.0.0.1 dev ens3 || true\n"
       "    pre-down ip -4 route del 0.0.0.0/0 via 10.0.0.1 dev ens3 || true\n"
       "    post-up ip -4 route add 192.168.0.0/16 via 10.0.0.254 dev ens3 || true\n"
       "    pre-down ip -4 route del 192.168.0.0/16 via 10.0.0.254 dev ens3 || true\n"},
      {"DualStackStaticAndDhcpWithStatefulDhcpv6",
       kDualStackAndDhcp,
       {{"fa:16:3e:dd:50:9a", "foo1"}, {"fa:16:3e:a8:14:69", "foo2"}},
       {{"/etc/systemd/network/10-metastack-foo1.network",
         "[Match]\nMACAddress=fa:16:3e:dd:50:9a\nName=foo1\nType=ether\n\n"
         "[Network]\nDHCP=no\nIPv6AcceptRA=no\n\n"
         "[Address]\nAddress=172.17.48.18/25\n\n"
         "[Address]\nAddress=fdb8:52d0:9d14:0:f816:3eff:fe9f:70d/64\n\n"
         "[Route]\nDestination=0.0.0.0/0\nGateway=172.17.48.1\n\n"
         "[Route]\nDestination=::/0\nGateway=fdb8:52d0:9d14::1\n"},
        {"/etc/systemd/network/10-metastack-foo2.network",
         "[Match]\nMACAddress=fa:16:3e:a8:14:69\nName=foo2\nType=ether\n\n"
         "[Network]\nDHCP=yes\nIPv6AcceptRA=yes\n"}},
       "# Written by metastack-guest from network_data.json.\n"
       "auto lo\niface lo inet loopback\n\n"
       "auto foo1\niface foo1 inet static\n    address 172.17.48.18/25\n"
       "    post-up ip -4 route add 0.0.0.0/0 via 172.17.48.1 dev foo1 || true\n"
       "    pre-down ip -4 route del 0.0.0.0/0 via 172.17.48.1 dev foo1 || true\n\n"
       "iface foo1 inet6 static\n    address fdb8:52d0:9d14:0:f816:3eff:fe9f:70d/64\n"
       "    accept_ra 0\n"
       "    post-up ip -6 route add ::/0 via fdb8:52d0:9d14::1 dev foo1 || true\n"
       "    pre-down ip -6 route del ::/0 via fdb8:52d0:9d14::1 dev foo1 || true\n\n"
       "auto foo2\niface foo2 inet dhcp\n\niface foo2 inet6 dhcp\n    accept_ra 1\n"},
      {"SlaacStatelessAndLegacyDhcpv6",
       kSlaacStateless,
       {{"fa:16:3e:00:00:01", "eth0"}, {"fa:16:3e:00:00:02", "eth1"}},
       {{"/etc/systemd/network/10-metastack-eth0.network",
         "[Match]\nMACAddress=fa:16:3e:00:00:01\nName=eth0\nType=ether\n\n"
         "[Network]\nDHCP=no\nDNS=2001:db8::53\n\n"
         "[Route]\nDestination=::/0\nGateway=2001:db8:0:1::1\n"},
        {"/etc/systemd/network/10-metastack-eth1.network",
         "[Match]\nMACAddress=fa:16:3e:00:00:02\nName=eth1\nType=ether\n\n"
         "[Network]\nDHCP=ipv6\nIPv6AcceptRA=yes\nDNS=2001:db8::53\n"}},
       "# Written by metastack-guest from network_data.json.\n"
       "auto lo\niface lo inet loopback\n    dns-nameservers 2001:db8::53\n\n"
       "auto eth0\niface eth0 inet6 auto\n    dhcp 0\n"
       "    post-up ip -6 route add ::/0 via 2001:db8:0:1::1 dev eth0 || true\n"
       "    pre-down ip -6 route del ::/0 via 2001:db8:0:1::1 dev eth0 || true\n\n"
       "auto eth1\niface eth1 inet6 auto\n    dhcp 1\n\n"
       "iface eth1 inet6 dhcp\n    accept_ra 1\n"},
      {"BondWithVlan",
       kBondVlan,
       {{"0c:c4:7a:34:6e:3c", "oeth0"}, {"0c:c4:7a:34:6e:3d", "oeth1"}},
       {{"/etc/systemd/network/10-metastack-oeth0.network",
         "[Match]\nMACAddress=0c:c4:7a:34:6e:3c\nName=oeth0\nType=ether\n\n"
         "[Link]\nMTUBytes=1500\n\n[Network]\nBond=bond0\n"},
        {"/etc/systemd/network/10-metastack-oeth1.network",
         "[Match]\nMACAddress=0c:c4:7a:34:6e:3d\nName=oeth1\nType=ether\n\n"
         "[Link]\nMTUBytes=1500\n\n[Network]\nBond=bond0\n"},
        {"/etc/systemd/network/10-metastack-bond0.netdev",
         "[NetDev]\nName=bond0\nKind=bond\nMACAddress=fa:16:3e:b3:72:36\n\n"
         "[Bond]\nMode=802.3ad\nMIIMonitorSec=100ms\nTransmitHashPolicy=layer3+4\n"},
        {"/etc/systemd/network/10-metastack-bond0.network",
         "[Match]\nName=bond0\n\n[Network]\nDHCP=no\nVLAN=bond0.602\nDNS=1.1.1.191\n"},
        {"/etc/systemd/network/10-metastack-bond0.602.netdev",
         "[NetDev]\nName=bond0.602\nKind=vlan\nMACAddress=fa:16:3e:b3:72:30\n\n"
         "[VLAN]\nId=602\n"},
        {"/etc/systemd/network/10-metastack-bond0.602.network",
         "[Match]\nName=bond0.602\n\n[Network]\nDHCP=no\nDNS=1.1.1.191\n\n"
         "[Address]\nAddress=2.2.2.13/29\n\n"
         "[Route]\nDestination=0.0.0.0/0\nGateway=2.2.2.9\n"}},
       "# Written by metastack-guest from network_data.json.\n"
       "auto lo\niface lo inet loopback\n    dns-nameservers 1.1.1.191\n\n"
       "auto oeth0\niface oeth0 inet manual\n    mtu 1500\n    bond-master bond0\n"
       "    bond-mode 802.3ad\n    bond-miimon 100\n    bond-xmit-hash-policy layer3+4\n\n"
       "auto oeth1\niface oeth1 inet manual\n    mtu 1500\n    bond-master bond0\n"
       "    bond-mode 802.3ad\n    bond-miimon 100\n    bond-xmit-hash-policy layer3+4\n\n"
       "auto bond0\niface bond0 inet manual\n    hwaddress fa:16:3e:b3:72:36\n"
       "    bond-slaves none\n    bond-mode 802.3ad\n    bond-miimon 100\n"
       "    bond-xmit-hash-policy layer3+4\n\n"
       "auto bond0.602\niface bond0.602 inet static\n    address 2.2.2.13/29\n"
       "    hwaddress fa:16:3e:b3:72:30\n    vlan-raw-device bond0\n"
       "    post-up ip -4 route add 0.0.0.0/0 via 2.2.2.9 dev bond0.602 || true\n"
       "    pre-down ip -4 route del 0.0.0.0/0 via 2.2.2.9 dev bond0.602 || true\n"},
      {"VlanWithGatewayMetricSearchDomainsAndNonDnsService",
       kVlanExtras,
       {{"fa:16:3e:69:b0:58", "enp0s1"}},
       {{"/etc/systemd/network/10-metastack-enp0s1.network",
         "[Match]\nMACAddress=fa:16:3e:69:b0:58\nName=enp0s1\nType=ether\n\n"
         "[Link]\nMTUBytes=1500\n\n"
         "[Network]\nDHCP=no\nVLAN=enp0s1.602\nDNS=1.1.1.191 1.1.1.4\nDomains=example.org\n"},
        {"/etc/systemd/network/10-metastack-enp0s1.602.netdev",
         "[NetDev]\nName=enp0s1.602\nKind=vlan\nMACAddress=fa:16:3e:b3:72:30\n\n"
         "[VLAN]\nId=602\n"},
        {"/etc/systemd/network/10-metastack-enp0s1.602.network",
         "[Match]\nName=enp0s1.602\n\n[Link]\nMTUBytes=1496\n\n"
         "[Network]\nDHCP=no\nDNS=10.0.1.2 1.1.1.191 1.1.1.4\n"
         "Domains=corp.example example.org\n\n"
         "[Address]\nAddress=10.0.1.5/29\n\n"
         "[Route]\nDestination=0.0.0.0/0\nGateway=10.0.1.1\n\n"
         "[Route]\nDestination=192.168.1.0/32\nGateway=10.0.1.1\nMetric=50\n"}},
       "# Written by metastack-guest from network_data.json.\n"
       "auto lo\niface lo inet loopback\n    dns-nameservers 1.1.1.191 1.1.1.4\n"
       "    dns-search example.org\n\n"
       "iface enp0s1 inet manual\n    mtu 1500\n\n"
       "auto enp0s1.602\niface enp0s1.602 inet static\n    address 10.0.1.5/29\n"
       "    dns-nameservers 10.0.1.2\n    dns-search corp.example\n"
       "    hwaddress fa:16:3e:b3:72:30\n    mtu 1496\n    vlan-raw-device enp0s1\n"
       "    post-up ip -4 route add 0.0.0.0/0 via 10.0.1.1 dev enp0s1.602 || true\n"
       "    pre-down ip -4 route del 0.0.0.0/0 via 10.0.1.1 dev enp0s1.602 || true\n"
       "    post-up ip -4 route add 192.168.1.0/32 via 10.0.1.1 dev enp0s1.602 metric 50"
       " || true\n"
       "    pre-down ip -4 route del 192.168.1.0/32 via 10.0.1.1 dev enp0s1.602 metric 50"
       " || true\n"},
  };
  return cases;
}

// What CTest names the case by (else GoogleTest prints the struct's bytes).
void PrintTo(const RenderCase& c, std::ostream* os) { *os << c.name; }

class RenderTest : public testing::TestWithParam<RenderCase> {};

TEST_P(RenderTest, WritesExactlyTheseFiles) {
  const RenderCase& c = GetParam();
  nlohmann::json doc = nlohmann::json::parse(c.network_data);
  auto files = RenderNetworkd(doc, c.nics);
  ASSERT_TRUE(files) << files.error().ToString();
  std::vector<std::pair<std::string, std::string>> got;
  for (const ConfigFile& f : *files) got.emplace_back(f.path, f.contents);
  EXPECT_EQ(got, c.networkd);
  auto interfaces = RenderIfupdown(doc, c.nics);
  ASSERT_TRUE(interfaces) << interfaces.error().ToString();
  EXPECT_EQ(interfaces->path, "/etc/network/interfaces");
  EXPECT_EQ(interfaces->contents, c.interfaces);
}

INSTANTIATE_TEST_SUITE_P(NetworkData, RenderTest, testing::ValuesIn(RenderCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RenderNetworkdTest, NamesFilesAfterTheLinkIdWhenNoNicHasTheMac) {
  auto files = RenderNetworkd(nlohmann::json::parse(kBondVlan), {});
  ASSERT_TRUE(files) << files.error().ToString();
  ASSERT_EQ(files->size(), 6u);
  EXPECT_EQ((*files)[0].path, "/etc/systemd/network/10-metastack-eth0.network");
  EXPECT_EQ((*files)[0].contents,
            "[Match]\nMACAddress=0c:c4:7a:34:6e:3c\nType=ether\n\n"
            "[Link]\nMTUBytes=1500\n\n[Network]\nBond=bond0\n");

  // A link id is Nova's device name ("tap" + port id); what a file name cannot carry becomes
  // '_', and a VLAN whose "<parent>.<id>" is longer than an interface name may be is vlanN.
  auto vlan = RenderNetworkd(nlohmann::json::parse(R"({"links": [
      {"id": "tap1f8b2e6a/3c", "type": "ovs", "ethernet_mac_address": "fa:16:3e:12:34:56"},
      {"id": "v", "type": "vlan", "vlan_link": "tap1f8b2e6a/3c", "vlan_id": 101,
       "vlan_mac_address": "fa:16:3e:12:34:57"}]})"),
                             {});
  ASSERT_TRUE(vlan) << vlan.error().ToString();
  ASSERT_EQ(vlan->size(), 3u);
  EXPECT_EQ((*vlan)[0].path, "/etc/systemd/network/10-metastack-tap1f8b2e6a_3c.network");
  EXPECT_EQ((*vlan)[0].contents,
            "[Match]\nMACAddress=fa:16:3e:12:34:56\nType=ether\n\n"
            "[Network]\nDHCP=no\nVLAN=vlan101\n");
  EXPECT_EQ((*vlan)[1].path, "/etc/systemd/network/10-metastack-vlan101.netdev");
}

TEST(RenderNetworkdTest, NoLinksNoFiles) {
  auto files = RenderNetworkd(nlohmann::json::parse(R"({"links": [], "networks": []})"), {});
  ASSERT_TRUE(files);
  EXPECT_TRUE(files->empty());
}

TEST(RenderNetworkdTest, RefusesMalformedNetworkDataNamingTheField) {
  const std::string link = R"({"id": "l", "type": "phy", "ethernet_mac_address": "fa:16:3e:0:0:1")";
  const std::string ok_link = R"({"id": "l", "type": "phy", "ethernet_mac_address": )"
                              R"("fa:16:3e:00:00:01"})";
  auto with_network = [&](const std::string& network) {
    return R"({"links": [)" + ok_link + R"(], "networks": [)" + network + "]}";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "network_data: not an object"},
      {"{}", "links: missing"},
      {R"({"links": {}})", "links: not a list"},
      {R"({"links": [{"type": "phy", "ethernet_mac_address": "fa:16:3e:00:00:01"}]})",
       "links[0].id: missing"},
      {R"({"links": [{"id": "l", "type": "vxlan"}]})",
       "links[0].type: unknown link type \"vxlan\""},
      {R"({"links": [{"id": "l", "type": "phy"}]})", "links[0].ethernet_mac_address: missing"},
      {R"({"links": [)" + link + "}]}",
       "links[0].ethernet_mac_address: not a MAC address: \"fa:16:3e:0:0:1\""},
      {R"({"links": [)" + ok_link + "," + ok_link + "]}",
       "links[1].id: used by an earlier link: \"l\""},
      {R"({"links": [{"id": "l", "type": "phy", "mtu": 70000,
           "ethernet_mac_address": "fa:16:3e:00:00:01"}]})",
       "links[0].mtu: out of range [68, 65535]: 70000"},
      {R"({"links": [)" + ok_link + R"(, {"id": "v", "type": "vlan", "vlan_link": "l",
           "vlan_id": 101}]})",
       "links[1].vlan_mac_address: missing"},
      {R"({"links": [)" + ok_link + R"(, {"id": "v", "type": "vlan", "vlan_link": "l",
           "vlan_id": 5000, "vlan_mac_address": "fa:16:3e:00:00:02"}]})",
       "links[1].vlan_id: out of range [1, 4094]: 5000"},
      {R"({"links": [)" + ok_link + R"(, {"id": "v", "type": "vlan", "vlan_link": "x",
           "vlan_id": 5, "vlan_mac_address": "fa:16:3e:00:00:02"}]})",
       "links[1].vlan_link: no link has id \"x\""},
      {R"({"links": [)" + ok_link + R"(, {"id": "b", "type": "bond", "bond_links": ["l"],
           "bond_mode": "802.1ad"}]})",
       "links[1].bond_mode: not a bonding mode: \"802.1ad\""},
      {R"({"links": [)" + ok_link + R"(, {"id": "b", "type": "bond", "bond_links": ["l", "m"]}]})",
       "links[1].bond_links: no link has id \"m\""},
      {R"({"links": [)" + ok_link + R"(, {"id": "b", "type": "bond", "bond_links": ["l"],
           "bond_xmit_hash_policy": "layer3+4\nfoo"}]})",
       "links[1].bond_xmit_hash_policy: not a transmit hash policy: \"layer3+4\\nfoo\""},
      {R"({"links": [)" + ok_link + R"(, {"id": "b", "type": "bond", "bond_links": ["l"]},
           {"id": "v", "type": "vlan", "vlan_link": "l", "vlan_id": 5,
            "vlan_mac_address": "fa:16:3e:00:00:02"}]})",
       "links[2].vlan_link: names a bond member: \"l\""},
      {R"({"links": [)" + ok_link + R"(, {"id": "b", "type": "bond", "bond_links": ["l"]}],
           "networks": [{"type": "ipv4_dhcp", "link": "l"}]})",
       "networks[0].link: names a bond member: \"l\""},
      {with_network(R"({"type": "ipv4", "link": "m", "ip_address": "10.0.0.5"})"),
       "networks[0].link: no link has id \"m\""},
      {with_network(R"({"type": "ipv5", "link": "l"})"),
       "networks[0].type: unknown network type \"ipv5\""},
      {with_network(R"({"type": "ipv4", "link": "l"})"), "networks[0].ip_address: missing"},
      {with_network(R"({"type": "ipv4", "link": "l", "ip_address": "10.0.0.300"})"),
       "networks[0].ip_address: not an IP address: \"10.0.0.300\""},
      {with_network(R"({"type": "ipv4", "link": "l", "ip_address": "2001:db8::1"})"),
       "networks[0].ip_address: not an IPv4 address: \"2001:db8::1\""},
      {with_network(R"({"type": "ipv4", "link": "l", "ip_address": "10.0.0.5",
                        "netmask": "255.0.255.0"})"),
       "networks[0].netmask: not an IPv4 prefix length or netmask: \"255.0.255.0\""},
      {with_network(R"({"type": "ipv6", "link": "l", "ip_address": "2001:db8::5/129"})"),
       "networks[0].ip_address: not an IPv6 prefix length or netmask: \"129\""},
      {with_network(R"({"type": "ipv4_dhcp", "link": "l", "routes": [{"network": "0.0.0.0",
                        "netmask": "0.0.0.0"}]})"),
       "networks[0].routes[0].gateway: missing"},
      {with_network(R"({"type": "ipv4_dhcp", "link": "l", "routes": [{"network": "::",
                        "netmask": "::", "gateway": "10.0.0.1"}]})"),
       "networks[0].routes[0].gateway: not of the route's address family: \"10.0.0.1\""},
      {with_network(R"({"type": "ipv4_dhcp", "link": "l", "routes": [{"network": "0.0.0.0",
                        "netmask": 0, "gateway": "10.0.0.1", "metric": "high"}]})"),
       "networks[0].routes[0].metric: not an integer: \"high\""},
      {with_network(R"({"type": "ipv4_dhcp", "link": "l", "dns_search": "a b"})"),
       "networks[0].dns_search: not a domain name: \"a b\""},
      {R"({"links": [], "services": [{"type": "dns", "address": "8.8.8.8\nnameserver 1.2.3.4"}]})",
       "services[0].address: not an IP address: \"8.8.8.8\nnameserver 1.2.3.4\""},
      {R"({"links": [], "services": [{"type": "dns"}]})", "services[0].address: missing"},
  };
  for (const auto& [doc, error] : cases) {
    auto got = RenderNetworkd(nlohmann::json::parse(doc), {});
    ASSERT_FALSE(got) << doc;
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument) << doc;
    EXPECT_EQ(got.error().ToString(), error) << doc;
  }
}

TEST(RenderIfupdownTest, EveryEthernetLinkNeedsAKnownInterface) {
  auto got = RenderIfupdown(nlohmann::json::parse(kStaticV4), {{"fa:16:3e:12:34:57", "ens4"}});
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(got.error().ToString(),
            "links[0].ethernet_mac_address: no interface has this MAC address "
            "(fa:16:3e:12:34:56)");
  // networkd matches by MAC and does without the name.
  EXPECT_TRUE(RenderNetworkd(nlohmann::json::parse(kStaticV4), {}));
}

TEST(ReadNicsTest, InterfacesAsCloudInitCountsThem) {
  char tmpl[] = "/tmp/metastack-nics-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto nic = [&](const std::string& name, const std::string& address) {
    std::filesystem::create_directories(dir + "/" + name);
    std::ofstream(dir + "/" + name + "/address") << address << "\n";
  };
  nic("lo", "00:00:00:00:00:00");
  nic("ens3", "FA:16:3E:12:34:56");
  nic("ens3.101", "fa:16:3e:12:34:56");  // a VLAN
  std::ofstream(dir + "/ens3.101/uevent") << "DEVTYPE=vlan\nINTERFACE=ens3.101\n";
  nic("bond0", "fa:16:3e:00:00:0a");
  std::filesystem::create_directories(dir + "/bond0/bonding");
  nic("br0", "fa:16:3e:00:00:0c");
  std::filesystem::create_directories(dir + "/br0/bridge");
  nic("ens4", "fa:16:3e:00:00:0a");  // a bond member: its own MAC is perm_hwaddr
  std::filesystem::create_directories(dir + "/ens4/bonding_slave");
  std::ofstream(dir + "/ens4/bonding_slave/perm_hwaddr") << "fa:16:3e:00:00:0b\n";
  nic("ens5", "");
  nic("stolen", "fa:16:3e:00:00:0d");
  std::ofstream(dir + "/stolen/addr_assign_type") << "2\n";
  nic("veth0", "fa:16:3e:00:00:0e");  // virtual, its own random address: a namespace's NIC
  std::ofstream(dir + "/veth0/addr_assign_type") << "1\n";
  EXPECT_EQ(ReadNics(dir), (Nics{{"fa:16:3e:12:34:56", "ens3"},
                                 {"fa:16:3e:00:00:0b", "ens4"},
                                 {"fa:16:3e:00:00:0e", "veth0"}}));
  EXPECT_EQ(ReadNics(dir + "/missing"), Nics{});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace metastack::guest
