#include "core/instance.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/testdata.h"

namespace metastack::core {
namespace {

using testing::ExampleDocument;

TEST(InstanceTest, ParsesTheExample) {
  auto inst = ParseInstanceJson(ExampleDocument());
  ASSERT_TRUE(inst) << inst.error().ToString();
  EXPECT_EQ(inst->uuid, "b65cee2f-8c69-4aeb-be2f-f79742548fc2");
  EXPECT_EQ(inst->public_keys.size(), 1u);
  EXPECT_EQ(inst->public_keys[0].type, "ssh");
  EXPECT_EQ(inst->meta[0], (std::pair<std::string, std::string>{"role", "web"}));
  EXPECT_EQ(inst->ports[0].devname, "tap1f8b2e6a-3c");
  EXPECT_EQ(inst->ports[0].subnets[0].version, 4);
  EXPECT_FALSE(inst->ports[0].subnets[0].EffectiveDhcpServer());
  EXPECT_EQ(*inst->user_data, "#cloud-config\n");
}

TEST(InstanceTest, Defaults) {
  Json doc = {
      {"uuid", "B65CEE2F-8C69-4AEB-BE2F-F79742548FC2"}, {"hostname", "h"}, {"project_id", "p"}};
  auto inst = ParseInstanceJson(doc);
  ASSERT_TRUE(inst) << inst.error().ToString();
  EXPECT_EQ(inst->name, "h");
  EXPECT_EQ(*inst->ec2.instance_id, "i-b65cee2f");
  EXPECT_EQ(*inst->ec2.reservation_id, "r-8c694aeb");
  EXPECT_FALSE(inst->user_data);
  EXPECT_FALSE(inst->availability_zone);
}

TEST(InstanceTest, BinaryUserDataWins) {
  Json doc = ExampleDocument();
  doc["user_data_b64"] = "H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==";
  auto inst = ParseInstanceJson(doc);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->user_data->substr(0, 2), "\x1f\x8b");
}

TEST(InstanceTest, InjectedFileContentsB64) {
  Json doc = ExampleDocument();
  doc["files"] = Json::array({{{"path", "/bin/blob"}, {"contents_b64", "AAEC/w=="}},
                              {{"path", "/etc/empty"}, {"contents", ""}}});
  auto inst = ParseInstanceJson(doc);
  ASSERT_TRUE(inst) << inst.error().ToString();
  EXPECT_EQ(inst->files[0].contents, std::string("\x00\x01\x02\xff", 4));
  EXPECT_EQ(inst->files[1].contents, "");
}

// Each case edits the example and names the exact message the user reads.
struct BadCase {
  const char* name;
  std::function<void(Json&)> edit;
  std::string error;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class InstanceErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(InstanceErrorTest, NamesTheField) {
  Json doc = ExampleDocument();
  GetParam().edit(doc);
  auto inst = ParseInstanceJson(doc);
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(inst.error().ToString(), GetParam().error);
}

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

const BadCase kBadCases[] = {
    {"missing_uuid", [](Json& d) { d.erase("uuid"); }, "uuid: is required"},
    {"bad_uuid", [](Json& d) { d["uuid"] = "not-a-uuid"; }, "uuid: not a UUID"},
    {"uuid_type", [](Json& d) { d["uuid"] = 5; }, "uuid: expected a string"},
    {"unknown_field", [](Json& d) { d["user-data"] = "x"; }, "user-data: unknown field"},
    {"hostname", [](Json& d) { d["hostname"] = "web_01"; }, "hostname: not a valid hostname"},
    {"hostname_dash", [](Json& d) { d["hostname"] = "-web"; }, "hostname: not a valid hostname"},
    {"hostname_label", [](Json& d) { d["hostname"] = std::string(64, 'a'); },
     "hostname: not a valid hostname"},
    {"hostname_upper_latin1", [](Json& d) { d["hostname"] = "Caf\u00e9"; },
     "hostname: not a valid hostname"},
    {"hostname_cjk", [](Json& d) { d["hostname"] = "\u670d\u52a1\u5668"; },
     "hostname: not a valid hostname"},
    {"missing_project", [](Json& d) { d.erase("project_id"); }, "project_id: is required"},
    {"launch_index", [](Json& d) { d["launch_index"] = -1; }, "launch_index: must not be negative"},
    {"launch_index_type", [](Json& d) { d["launch_index"] = "0"; },
     "launch_index: expected an integer"},
    {"cidr", [](Json& d) { d["ports"][0]["subnets"][0]["cidr"] = "10.0.0.0"; },
     "ports[0].subnets[0].cidr: not a CIDR"},
    {"second_subnet_cidr",
     [](Json& d) {
       d["ports"][0]["subnets"].push_back({{"cidr", "fd00::/64"}});
       d["ports"][0]["subnets"][1]["cidr"] = "fd00::/200";
     },
     "ports[0].subnets[1].cidr: not a CIDR"},
    {"ip_outside", [](Json& d) { d["ports"][0]["subnets"][0]["ip_address"] = "10.0.1.5"; },
     "ports[0].subnets[0].ip_address: not in 10.0.0.0/24"},
    {"ip_version", [](Json& d) { d["ports"][0]["subnets"][0]["ip_address"] = "fd00::5"; },
     "ports[0].subnets[0].ip_address: not an IPv4 address"},
    {"gateway", [](Json& d) { d["ports"][0]["subnets"][0]["gateway_ip"] = "10.0.0.300"; },
     "ports[0].subnets[0].gateway_ip: not an IP address"},
    {"dns", [](Json& d) { d["ports"][0]["subnets"][0]["dns_nameservers"][1] = "dns.example"; },
     "ports[0].subnets[0].dns_nameservers[1]: not an IP address"},
    {"route", [](Json& d) { d["ports"][0]["subnets"][0]["host_routes"][0]["nexthop"] = "x"; },
     "ports[0].subnets[0].host_routes[0].nexthop: not an IP address"},
    {"v6_mode_on_v4", [](Json& d) { d["ports"][0]["subnets"][0]["ipv6_address_mode"] = "slaac"; },
     "ports[0].subnets[0].ipv6_address_mode: set on an IPv4 subnet"},
    {"mac", [](Json& d) { d["ports"][0]["mac"] = "fa:16:3e"; }, "ports[0].mac: not a MAC address"},
    {"mtu", [](Json& d) { d["ports"][0]["mtu"] = 70000; },
     "ports[0].mtu: not between 68 and 65535"},
    {"port_unknown", [](Json& d) { d["ports"][0]["fixed_ips"] = Json::array(); },
     "ports[0].fixed_ips: unknown field"},
    {"duplicate_port", [](Json& d) { d["ports"].push_back(d["ports"][0]); },
     "ports[1].id: duplicate port id 1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
    {"meta_items",
     [](Json& d) {
       for (int i = 0; i < 127; ++i) d["meta"]["k" + std::to_string(i)] = "v";
     },
     "meta: more than 128 items"},
    {"meta_key_long", [](Json& d) { d["meta"][std::string(256, 'k')] = "v"; },
     "meta." + std::string(256, 'k') + ": key longer than 255 characters"},
    {"meta_value_long", [](Json& d) { d["meta"]["role"] = Repeat("\u00e9", 256); },
     "meta.role: value longer than 255 characters"},
    {"meta_value_type", [](Json& d) { d["meta"]["role"] = 1; }, "meta.role: expected a string"},
    {"user_data_size", [](Json& d) { d["user_data"] = std::string(49152, 'x'); },
     "user_data: longer than 65535 bytes when base64-encoded"},
    {"user_data_b64", [](Json& d) { d["user_data_b64"] = "!!!"; },
     "user_data_b64: not valid base64"},
    {"file_relative", [](Json& d) { d["files"][0]["path"] = "etc/motd"; },
     "files[0].path: not an absolute path"},
    {"file_dotdot", [](Json& d) { d["files"][0]["path"] = "/etc/../../root/x"; },
     "files[0].path: contains a '.' or '..' component"},
    {"file_nul", [](Json& d) { d["files"][0]["path"] = std::string("/etc/a\0b", 8); },
     "files[0].path: contains a NUL byte"},
    {"file_long", [](Json& d) { d["files"][0]["path"] = "/" + std::string(255, 'a'); },
     "files[0].path: longer than 255 bytes"},
    {"file_no_contents", [](Json& d) { d["files"][0].erase("contents"); },
     "files[0].contents: is required"},
    {"file_both", [](Json& d) { d["files"][0]["contents_b64"] = "AA=="; },
     "files[0]: give contents or contents_b64, not both"},
    {"file_too_big", [](Json& d) { d["files"][0]["contents"] = std::string((1 << 20) + 1, 'x'); },
     "files[0]: contents larger than 1048576 bytes"},
    {"file_duplicate", [](Json& d) { d["files"].push_back(d["files"][0]); },
     "files[1].path: duplicate path /etc/motd"},
    {"key_type", [](Json& d) { d["public_keys"]["mykey"] = 1; },
     "public_keys.mykey: expected a string"},
    {"key_types_unknown",
     [](Json& d) {
       d["public_key_types"] = {{"other", "ssh"}};
     },
     "public_key_types.other: no such public key"},
    {"device_type", [](Json& d) { d["devices"][0]["type"] = "gpu"; },
     "devices[0].type: expected nic or disk"},
    {"device_bus", [](Json& d) { d["devices"][0]["bus"] = "sata"; },
     "devices[0].bus: expected pci, usb, scsi, ide or xen"},
    {"device_vlan", [](Json& d) { d["devices"][0]["vlan"] = 5000; },
     "devices[0].vlan: not between 0 and 4095"},
    {"device_nic_mac", [](Json& d) { d["devices"][0].erase("mac"); },
     "devices[0].mac: is required for a nic"},
    {"public_ipv4", [](Json& d) { d["ec2"]["public_ipv4"] = "2001:db8::1"; },
     "ec2.public_ipv4: not an IPv4 address"},
    {"ec2_unknown", [](Json& d) { d["ec2"]["ami"] = "x"; }, "ec2.ami: unknown field"},
    {"cpus",
     [](Json& d) {
       d["dedicated_cpus"] = {1, -2};
     },
     "dedicated_cpus[1]: expected a CPU number"},
    {"cpus_duplicate",
     [](Json& d) {
       d["dedicated_cpus"] = {1, 1};
     },
     "dedicated_cpus[1]: CPU 1 listed twice"},
    {"password", [](Json& d) { d["password"] = std::string(1021, 'p'); },
     "password: longer than 1020 bytes"},
    {"blank",
     [](Json& d) {
       d["block_devices"]["blanks"] = {{{"guest_format", "swap"}}};
     },
     "block_devices.blanks[0].device: is required"},
    {"http_tokens",
     [](Json& d) {
       d["metadata_options"] = {{"http_tokens", "always"}};
     },
     "metadata_options.http_tokens: expected \"optional\" or \"required\""},
    {"http_tokens_type",
     [](Json& d) {
       d["metadata_options"] = {{"http_tokens", true}};
     },
     "metadata_options.http_tokens: expected a string"},
    {"metadata_options_unknown",
     [](Json& d) {
       d["metadata_options"] = {{"hop_limit", 2}};
     },
     "metadata_options.hop_limit: unknown field"},
    {"metadata_options_type", [](Json& d) { d["metadata_options"] = "required"; },
     "metadata_options: expected an object"},
    {"config_drive", [](Json& d) { d["config_drive"] = "true"; },
     "config_drive: expected true or false"},
};

INSTANTIATE_TEST_SUITE_P(Errors, InstanceErrorTest, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(InstanceTest, NotJson) {
  auto inst = ParseInstance("{\"uuid\": ");
  ASSERT_FALSE(inst);
  EXPECT_EQ(inst.error().ToString(),
            "not valid JSON: parse error at line 1, column 10: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(ParseInstance("[1]").error().ToString(), "an instance document must be a JSON object");
}

TEST(InstanceTest, Hostnames) {
  EXPECT_TRUE(IsValidHostname("web-01"));
  EXPECT_TRUE(IsValidHostname("a.b-c.d"));
  EXPECT_FALSE(IsValidHostname("a..b"));
  EXPECT_FALSE(IsValidHostname("a."));
}

// Every name Nova 26 can store: the API's `hostname` field, FQDNs, and what
// nova.utils.sanitize_hostname makes of display names (Latin-1 letters kept, lower-cased).
TEST(InstanceTest, HostnamesNovaStores) {
  for (const std::string& name :
       std::vector<std::string>{"h\u00e9", "caf\u00e9-server", "m\u00fcnchen",
                                "\u00fcn\u00efcode-host", "\u00df\u00ff\u00aa\u00b5\u00bd",
                                "\u00e9", "Server-0a1b", "x", "\u00e9" + std::string(62, 'a')})
    EXPECT_TRUE(IsValidHostname(name)) << name;
  for (const std::string& name : std::vector<std::string>{
           "Caf\u00e9",          // sanitize_hostname lower-cases
           "caf\u00e9.example",  // and turns '.' into '-'
           "a\u00f7b",           // ÷ is not a word character
           "a\u00d7b",           // nor ×
           "caf\u00e9_x",
           "-caf\u00e9",
           "caf\u00e9-",                     // '_' is '-', stripped at the ends
           "\u0107evap",                     // outside Latin-1: dropped by Nova
           "caf\xc3",                        // not UTF-8
           "\u00e9" + std::string(63, 'a'),  // 64 characters
           "",
       })
    EXPECT_FALSE(IsValidHostname(name)) << name;
}

TEST(InstanceTest, JsonRoundTrip) {
  auto inst = ParseInstanceJson(ExampleDocument());
  ASSERT_TRUE(inst);
  Json again = InstanceToJson(*inst);
  auto inst2 = ParseInstanceJson(again);
  ASSERT_TRUE(inst2) << inst2.error().ToString();
  EXPECT_EQ(DumpPython(InstanceToJson(*inst2)), DumpPython(again));
  EXPECT_EQ(inst2->files[0].contents, "Welcome\n");
  EXPECT_EQ(*inst2->user_data, "#cloud-config\n");
}

// The session policy is kept when set and absent from the JSON when not (documents written
// before it existed read back unchanged).
TEST(InstanceTest, MetadataOptions) {
  Json doc = ExampleDocument();
  auto plain = ParseInstanceJson(doc);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->metadata_options.http_tokens);
  EXPECT_FALSE(InstanceToJson(*plain).contains("metadata_options"));
  for (std::string_view policy : {"optional", "required"}) {
    doc["metadata_options"] = {{"http_tokens", policy}};
    auto inst = ParseInstanceJson(doc);
    ASSERT_TRUE(inst) << inst.error().ToString();
    ASSERT_TRUE(inst->metadata_options.http_tokens);
    EXPECT_EQ(HttpTokensName(*inst->metadata_options.http_tokens), policy);
    EXPECT_EQ(InstanceToJson(*inst)["metadata_options"], Json({{"http_tokens", policy}}));
  }
  doc["metadata_options"] = {{"http_tokens", nullptr}};
  auto unset = ParseInstanceJson(doc);
  ASSERT_TRUE(unset);
  EXPECT_FALSE(unset->metadata_options.http_tokens);
}

// Nova's config_drive flag: false unless given, written back only when true (documents written
// before it existed read back unchanged), and it survives the canonical round trip.
TEST(InstanceTest, ConfigDrive) {
  Json doc = ExampleDocument();
  auto plain = ParseInstanceJson(doc);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->config_drive);
  EXPECT_FALSE(InstanceToJson(*plain).contains("config_drive"));
  doc["config_drive"] = nullptr;
  EXPECT_FALSE(ParseInstanceJson(doc)->config_drive);
  doc["config_drive"] = false;
  EXPECT_FALSE(InstanceToJson(*ParseInstanceJson(doc)).contains("config_drive"));
  doc["config_drive"] = true;
  auto wants = ParseInstanceJson(doc);
  ASSERT_TRUE(wants) << wants.error().ToString();
  EXPECT_TRUE(wants->config_drive);
  Json again = InstanceToJson(*wants);
  EXPECT_EQ(again["config_drive"], Json(true));
  EXPECT_TRUE(ParseInstanceJson(again)->config_drive);
}

}  // namespace
}  // namespace metastack::core
