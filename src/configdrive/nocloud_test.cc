#include "configdrive/nocloud.h"

#include <gtest/gtest.h>

#include "configdrive/test_util.h"

namespace metastack::configdrive {
namespace {

std::map<std::string, std::string> ByName(const std::vector<core::DriveFile>& files) {
  std::map<std::string, std::string> out;
  for (const auto& f : files) out[f.path] = f.contents;
  return out;
}

TEST(NoCloudFiles, TheExampleInstance) {
  core::Instance inst = testing::ExampleInstance();
  auto files = NoCloudFiles(inst, core::Settings{});
  ASSERT_TRUE(files);
  std::vector<std::string> names;
  for (const auto& f : *files) names.push_back(f.path);
  // vendor data {"cloud": "example"} has nothing for cloud-init: no vendor-data file.
  EXPECT_EQ(names, (std::vector<std::string>{"meta-data", "user-data", "network-config"}));
  auto by_name = ByName(*files);
  EXPECT_EQ(by_name["meta-data"],
            "instance-id: \"b65cee2f-8c69-4aeb-be2f-f79742548fc2\"\n"
            "local-hostname: \"web-01.novalocal\"\n"
            "availability-zone: \"nova\"\n"
            "public-keys:\n"
            "  - \"ssh-ed25519 AAAAC3Nza alice@laptop\"\n");
  EXPECT_EQ(by_name["user-data"], "#cloud-config\n");
  EXPECT_EQ(by_name["network-config"],
            "version: 2\n"
            "ethernets:\n"
            "  eth0:\n"
            "    match:\n"
            "      macaddress: \"fa:16:3e:12:34:56\"\n"
            "    set-name: \"eth0\"\n"
            "    mtu: 1450\n"
            "    addresses:\n"
            "      - \"10.0.0.5/24\"\n"
            "    routes:\n"
            "      - to: \"0.0.0.0/0\"\n"
            "        via: \"10.0.0.1\"\n"
            "      - to: \"192.168.0.0/16\"\n"
            "        via: \"10.0.0.254\"\n"
            "    nameservers:\n"
            "      addresses:\n"
            "        - \"10.0.0.2\"\n"
            "        - \"8.8.8.8\"\n");
}

TEST(NoCloudFiles, MinimalInstanceStillHasUserData) {
  core::Instance inst = testing::ExampleInstance();
  inst.user_data.reset();
  inst.ports.clear();
  inst.public_keys.clear();
  inst.availability_zone.reset();
  core::Settings settings;
  settings.dhcp_domain = "";
  auto by_name = ByName(*NoCloudFiles(inst, settings));
  EXPECT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name["user-data"], "");  // NoCloud requires the file
  EXPECT_EQ(by_name["meta-data"],
            "instance-id: \"b65cee2f-8c69-4aeb-be2f-f79742548fc2\"\n"
            "local-hostname: \"web-01\"\n");
}

TEST(NoCloudFiles, VendorDataForCloudInitOnly) {
  core::Instance inst = testing::ExampleInstance();
  inst.vendor_data = core::Json{{"cloud-init", "#cloud-config\nruncmd: [[true]]\n"}, {"x", 1}};
  EXPECT_EQ(ByName(*NoCloudFiles(inst, {}))["vendor-data"], "#cloud-config\nruncmd: [[true]]\n");
  inst.vendor_data = core::Json("#!/bin/sh\ntrue\n");
  EXPECT_EQ(ByName(*NoCloudFiles(inst, {}))["vendor-data"], "#!/bin/sh\ntrue\n");
  inst.vendor_data.reset();
  core::Settings settings;
  settings.vendor_data = core::Json{{"cloud-init", "from settings"}};
  EXPECT_EQ(ByName(*NoCloudFiles(inst, settings))["vendor-data"], "from settings");
}

TEST(NetworkConfigV2, MapsEveryNetworkType) {
  auto nd = core::Json::parse(R"({
    "links": [
      {"id": "tapa", "type": "ovs", "mtu": null, "ethernet_mac_address": "fa:16:3e:00:00:01"},
      {"id": "tapb", "type": "phy", "mtu": 9000, "ethernet_mac_address": "fa:16:3e:00:00:02"}],
    "networks": [
      {"id": "network0", "type": "ipv4_dhcp", "link": "tapa"},
      {"id": "network1", "type": "ipv6_slaac", "link": "tapa", "ip_address": "2001:db8::5",
       "netmask": "ffff:ffff:ffff:ffff::", "routes": []},
      {"id": "network2", "type": "ipv6", "link": "tapb", "ip_address": "2001:db8:1::5",
       "netmask": "ffff:ffff:ffff:ffff::",
       "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8:1::1"}],
       "services": [{"type": "dns", "address": "2001:db8::53"}]},
      {"id": "network3", "type": "ipv6_dhcpv6-stateful", "link": "tapb"}],
    "services": []})");
  auto y = NetworkConfigV2(nd);
  ASSERT_TRUE(y && *y);
  EXPECT_EQ(**y,
            "version: 2\n"
            "ethernets:\n"
            "  eth0:\n"
            "    match:\n"
            "      macaddress: \"fa:16:3e:00:00:01\"\n"
            "    set-name: \"eth0\"\n"
            "    dhcp4: true\n"
            "    accept-ra: true\n"
            "  eth1:\n"
            "    match:\n"
            "      macaddress: \"fa:16:3e:00:00:02\"\n"
            "    set-name: \"eth1\"\n"
            "    mtu: 9000\n"
            "    dhcp6: true\n"
            "    accept-ra: true\n"
            "    addresses:\n"
            "      - \"2001:db8:1::5/64\"\n"
            "    routes:\n"
            "      - to: \"::/0\"\n"
            "        via: \"2001:db8:1::1\"\n"
            "    nameservers:\n"
            "      addresses:\n"
            "        - \"2001:db8::53\"\n");
}

TEST(NetworkConfigV2, NoLinksNoFileAndUnknownTypesAreErrors) {
  EXPECT_EQ(*NetworkConfigV2(core::Json::object()), std::nullopt);
  auto bad = NetworkConfigV2(core::Json::parse(R"({
    "links": [{"id": "l", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
    "networks": [{"type": "ipv5", "link": "l"}]})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().ToString(), "network_data.json: network type not supported: ipv5");
  auto mask = NetworkConfigV2(core::Json::parse(R"({
    "links": [{"id": "l", "ethernet_mac_address": "fa:16:3e:00:00:01"}],
    "networks": [{"type": "ipv4", "link": "l", "ip_address": "10.0.0.1",
                  "netmask": "255.0.255.0"}]})"));
  ASSERT_FALSE(mask);
  EXPECT_EQ(mask.error().ToString(), "network_data.json: not a netmask: 255.0.255.0");
}

TEST(YamlQuote, EscapesWhatYamlWouldNotRead) {
  EXPECT_EQ(YamlQuote("plain"), "\"plain\"");
  EXPECT_EQ(YamlQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(YamlQuote("tab\tnl\n\x01\x7f"), "\"tab\\u0009nl\\u000A\\u0001\\u007F\"");
  EXPECT_EQ(YamlQuote("Zo\xc3\xab \xf0\x9f\x9a\x80"), "\"Zo\xc3\xab \xf0\x9f\x9a\x80\"");
  EXPECT_EQ(YamlQuote("\xef\xbf\xbe"), "\"\\uFFFE\"");
  EXPECT_EQ(YamlQuote("bad\xff"), "\"bad\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace metastack::configdrive
