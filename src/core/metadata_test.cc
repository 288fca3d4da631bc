#include "core/metadata.h"

#include <gtest/gtest.h>

#include "base/base64.h"
#include "core/testdata.h"

namespace metastack::core {
namespace {

void ZeroRandom(std::span<uint8_t> out) { std::fill(out.begin(), out.end(), 0); }

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inst = ParseInstanceJson(testing::ExampleDocument());
    ASSERT_TRUE(inst) << inst.error().ToString();
    instance_ = *inst;
    ctx_.random = ZeroRandom;
    ctx_.address = "10.0.0.99";
  }

  std::string Get(std::string_view path) {
    auto doc = Lookup(instance_, path, settings_, ctx_);
    return doc ? doc->body : "<" + std::string(ErrorCodeName(doc.error().code)) + ">";
  }

  Instance instance_;
  Settings settings_;
  RenderContext ctx_;
};

const std::string kZeroSeed = Base64Encode(std::string(512, '\0'));

TEST_F(MetadataTest, MetaDataJsonLatest) {
  auto doc = Lookup(instance_, "/openstack/latest/meta_data.json", settings_, ctx_);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->content_type, "application/json");
  EXPECT_EQ(
      doc->body,
      R"({"uuid": "b65cee2f-8c69-4aeb-be2f-f79742548fc2", "meta": {"role": "web", )"
      R"("tier": "frontend"}, "public_keys": {"mykey": "ssh-ed25519 AAAAC3Nza alice@laptop"}, )"
      R"("keys": [{"name": "mykey", "type": "ssh", "data": "ssh-ed25519 AAAAC3Nza alice@laptop"}], )"
      R"("hostname": "web-01.novalocal", "name": "web-01", "launch_index": 0, )"
      R"("availability_zone": "nova", "random_seed": ")" +
          kZeroSeed +
          R"(", "project_id": "3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41", "devices": [{"vf_trusted": false, )"
          R"("type": "nic", "mac": "fa:16:3e:12:34:56", "bus": "pci", "address": "0000:00:03.0", )"
          R"("tags": ["mgmt"]}], "dedicated_cpus": []})");
}

TEST_F(MetadataTest, MetaDataJsonFolsomHasNoSeed) {
  settings_.dhcp_domain = "";
  EXPECT_EQ(Get("/openstack/2012-08-10/meta_data.json").find("random_seed"), std::string::npos);
  EXPECT_NE(Get("/openstack/2012-08-10/meta_data.json").find(R"("hostname": "web-01", )"),
            std::string::npos);
}

TEST_F(MetadataTest, RandomSeedIsFreshPerResponse) {
  int calls = 0;
  ctx_.random = [&](std::span<uint8_t> out) {
    EXPECT_EQ(out.size(), 512u);
    std::fill(out.begin(), out.end(), static_cast<uint8_t>(++calls));
  };
  EXPECT_NE(Get("/openstack/latest/meta_data.json"), Get("/openstack/latest/meta_data.json"));
  EXPECT_EQ(calls, 2);
}

TEST_F(MetadataTest, Listings) {
  EXPECT_EQ(Get("/"),
            "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n"
            "2008-09-01\n2009-04-04\nlatest");
  EXPECT_EQ(Get("/openstack"),
            "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n2017-02-22\n"
            "2018-08-27\n2020-10-14\nlatest");
  settings_.today = "2016-07-01";
  EXPECT_EQ(Get("/openstack/"),
            "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\nlatest");
  EXPECT_EQ(Get("/openstack/2012-08-10"), "meta_data.json\nuser_data");
  EXPECT_EQ(Get("/openstack/latest/"),
            "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\n"
            "vendor_data2.json");
  EXPECT_EQ(Get("/latest"), "meta-data/\nuser-data");
}

TEST_F(MetadataTest, Ec2Tree) {
  EXPECT_EQ(Get("/latest/meta-data/"),
            "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nhostname\n"
            "instance-action\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\n"
            "placement/\npublic-hostname\npublic-ipv4\npublic-keys/\nreservation-id\n"
            "security-groups");
  EXPECT_EQ(Get("/1.0/meta-data/"),
            "ami-id\nami-launch-index\nami-manifest-path\nhostname\ninstance-id\nlocal-ipv4\n"
            "public-keys/\nreservation-id\nsecurity-groups");
  EXPECT_EQ(Get("/latest/meta-data/public-keys/"), "0=mykey");
  EXPECT_EQ(Get("/latest/meta-data/public-keys/0"), "openssh-key");
  EXPECT_EQ(Get("/latest/meta-data/public-keys/0/openssh-key/"),
            "ssh-ed25519 AAAAC3Nza alice@laptop");
  EXPECT_EQ(Get("/latest/meta-data/security-groups"), "default\nweb");
  EXPECT_EQ(Get("/latest/meta-data/ami-launch-index"), "0");
  EXPECT_EQ(Get("/latest/meta-data/local-ipv4"), "10.0.0.5");
  EXPECT_EQ(Get("/latest/meta-data/public-ipv4"), "203.0.113.10");
  EXPECT_EQ(Get("/latest/meta-data/block-device-mapping/"), "ami\nebs0\nroot");
  EXPECT_EQ(Get("/latest/meta-data/block-device-mapping/ami"), "vda");
  EXPECT_EQ(Get("/latest/meta-data/placement/availability-zone"), "nova");
  EXPECT_EQ(Get("/ec2/latest/meta-data/instance-id"), "i-0000002a");
  EXPECT_EQ(Get("/latest/user-data/"), "#cloud-config\n");
}

TEST_F(MetadataTest, NotFound) {
  for (const char* path :
       {"/latest/meta-data/hostname/extra", "/latest/meta-data/security-groups/default",
        "/latest/user-data/x", "/latest/meta-data/nonexistent", "/2099-01-01/meta-data/",
        "/openstack/content/0000", "/openstack/latest/unknown", "/openstack/2012-08-10/password"})
    EXPECT_EQ(Get(path), "<not_found>") << path;
}

TEST_F(MetadataTest, NoneRendersAsPythonWould) {
  instance_.availability_zone.reset();
  instance_.ec2.ami_id.reset();
  instance_.ports.clear();
  ctx_.address.reset();
  EXPECT_EQ(Get("/latest/meta-data/placement/availability-zone"), "None");
  EXPECT_EQ(Get("/latest/meta-data/ami-id"), "None");
  EXPECT_EQ(Get("/latest/meta-data/local-ipv4"), "None");
  EXPECT_EQ(Get("/latest/meta-data/public-ipv4"), "");
  EXPECT_EQ(Get("/openstack/latest/network_data.json"), "{}");
}

TEST_F(MetadataTest, UserDataMissing) {
  instance_.user_data.reset();
  EXPECT_EQ(Get("/openstack/latest/user_data"), "<not_found>");
  EXPECT_EQ(Get("/latest/user-data"), "<not_found>");
  EXPECT_EQ(Get("/latest"), "meta-data/");
}

TEST_F(MetadataTest, AllPublicKeys) {
  instance_.public_keys.push_back({"second", "ssh-rsa BBBB", "ssh"});
  EXPECT_EQ(Get("/latest/meta-data/public-keys/"), "0=mykey\n1=second");
  EXPECT_EQ(Get("/latest/meta-data/public-keys/1/openssh-key"), "ssh-rsa BBBB");
  std::string md = Get("/openstack/latest/meta_data.json");
  EXPECT_NE(md.find(R"("public_keys": {"mykey": "ssh-ed25519 AAAAC3Nza alice@laptop", )"
                    R"("second": "ssh-rsa BBBB"})"),
            std::string::npos);
}

TEST_F(MetadataTest, VendorData) {
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json"), R"({"cloud": "example"})");
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json"), R"({"static": {"cloud": "example"}})");
  instance_.vendor_data.reset();
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json"), "{}");
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json"), R"({"static": {}})");
  settings_.vendor_data = Json{{"site", "a"}};
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json"), R"({"site": "a"})");
}

TEST_F(MetadataTest, DynamicVendorDataFollowsStaticInTargetOrder) {
  VendorDataParts parts = {{"zeta", Json{{"z", 1}}},
                           {"alpha", Json::array({"a", nullptr})},
                           {"static", Json{{"dropped", true}}},
                           {"zeta", Json{{"dropped", true}}},
                           {"failed", Json::object()}};
  ctx_.dynamic_vendor_data = &parts;
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json"),
            R"({"static": {"cloud": "example"}, "zeta": {"z": 1}, "alpha": ["a", null], )"
            R"("failed": {}})");
  // vendor_data.json and the listing are the same with and without targets, as in Nova.
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json"), R"({"cloud": "example"})");
  EXPECT_NE(Get("/openstack/latest").find("vendor_data2.json"), std::string::npos);
  parts.clear();
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json"), R"({"static": {"cloud": "example"}})");
}

TEST_F(MetadataTest, Password) {
  auto doc = Lookup(instance_, "/openstack/latest/password", settings_, ctx_);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->content_type, "text/html; charset=UTF-8");
  EXPECT_EQ(doc->body, "");
  instance_.password = "secret";
  EXPECT_EQ(Get("/openstack/2013-04-04/password"), "secret");
}

TEST_F(MetadataTest, ConfigDriveFileSet) {
  auto files = ConfigDriveFiles(instance_, settings_, ZeroRandom);
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.path);
  std::vector<std::string> expected = {"ec2/2009-04-04/user-data", "ec2/2009-04-04/meta-data.json",
                                       "ec2/latest/user-data", "ec2/latest/meta-data.json"};
  const char* versions[] = {"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                            "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest"};
  for (int i = 0; i < 10; ++i) {
    std::string dir = std::string("openstack/") + versions[i] + "/";
    expected.push_back(dir + "meta_data.json");
    expected.push_back(dir + "user_data");
    if (i >= 2) expected.push_back(dir + "vendor_data.json");
    if (i >= 3) expected.push_back(dir + "network_data.json");
    if (i >= 5) expected.push_back(dir + "vendor_data2.json");
  }
  expected.push_back("openstack/content/0000");
  EXPECT_EQ(names, expected);
  auto latest = std::find_if(files.begin(), files.end(), [](const DriveFile& f) {
    return f.path == "openstack/latest/meta_data.json";
  });
  ASSERT_NE(latest, files.end());
  const std::string& md = latest->contents;
  EXPECT_NE(md.find(R"("files": [{"path": "/etc/motd", "content_path": "/content/0000"}], )"
                    R"("admin_pass": "Adm1n", "public_keys")"),
            std::string::npos)
      << md;
  EXPECT_EQ(files.back().contents, "Welcome\n");
  // The EC2 document keeps Nova's "_name" and renders None as null.
  EXPECT_NE(files[1].contents.find(R"("public-keys": {"0": {"_name": "0=mykey", )"),
            std::string::npos);
}

}  // namespace
}  // namespace metastack::core
