#include "guest/instance_data.h"

#include <gtest/gtest.h>

#include "guest/test_util.h"

namespace metastack::guest {
namespace {

using fakes::MapTree;

MapTree OpenStackTree() {
  MapTree t;
  t.files["openstack/latest/meta_data.json"] = R"({
    "uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "web-01.novalocal",
    "public_keys": {"zeta": "ssh-rsa AAAAzeta z@host\n", "alpha": "ssh-ed25519 AAAAalpha a@b"},
    "files": [{"path": "/etc/motd", "content_path": "/content/0000"},
              {"path": "srv/app.conf", "content_path": "/content/0001"}]})";
  t.files["openstack/content/0000"] = "hello\n";
  t.files["openstack/content/0001"] = std::string("bin\0ary", 7);
  t.files["openstack/latest/user_data"] = "#!/bin/sh\necho hi\n";
  t.files["openstack/latest/network_data.json"] =
      R"({"links": [], "networks": [], "services": []})";
  t.files["openstack/latest/vendor_data.json"] = "{}";
  return t;
}

TEST(LoadInstanceTest, OpenStackLayout) {
  MapTree t = OpenStackTree();
  auto d = LoadInstance(t, Layout::kOpenStack);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->source, "test tree");
  EXPECT_EQ(d->instance_id, "83679162-1378-4288-a2d4-70e13ec132aa");
  EXPECT_EQ(d->hostname, "web-01.novalocal");
  // Document order, as cloud-init reads the JSON object.
  EXPECT_EQ(d->ssh_keys,
            (std::vector<std::string>{"ssh-rsa AAAAzeta z@host", "ssh-ed25519 AAAAalpha a@b"}));
  ASSERT_EQ(d->files.size(), 2u);
  EXPECT_EQ(d->files[0].path, "/etc/motd");
  EXPECT_EQ(d->files[0].contents, "hello\n");
  EXPECT_EQ(d->files[1].path, "/srv/app.conf");
  EXPECT_EQ(d->files[1].contents, std::string("bin\0ary", 7));
  EXPECT_EQ(d->user_data, "#!/bin/sh\necho hi\n");
  ASSERT_TRUE(d->network_data);
  EXPECT_TRUE(d->network_data->contains("links"));
  EXPECT_EQ(d->vendor_data, "{}");
  EXPECT_FALSE(d->vendor_data2);
}

TEST(LoadInstanceTest, BadOpenStackMetadataIsAnErrorNamingTheFileAndField) {
  struct Case {
    std::string path, text, error;
  } cases[] = {
      {"openstack/latest/meta_data.json",
       "{\"uuid\": ", "openstack/latest/meta_data.json: malformed JSON"},
      {"openstack/latest/meta_data.json", "[]",
       "openstack/latest/meta_data.json: not a JSON object"},
      {"openstack/latest/meta_data.json", "{\"hostname\": \"a\"}",
       "openstack/latest/meta_data.json: uuid: missing or not a string"},
      {"openstack/latest/meta_data.json", "{\"uuid\": \"u\", \"hostname\": 3}",
       "openstack/latest/meta_data.json: hostname: not a string"},
      {"openstack/latest/meta_data.json", "{\"uuid\": \"u\", \"public_keys\": [\"k\"]}",
       "openstack/latest/meta_data.json: public_keys: not an object"},
      {"openstack/latest/meta_data.json", "{\"uuid\": \"u\", \"files\": [{\"path\": \"/x\"}]}",
       "openstack/latest/meta_data.json: files[0]: needs string members path and content_path"},
      {"openstack/latest/meta_data.json",
       "{\"uuid\": \"u\", \"files\": [{\"path\": \"/x\", \"content_path\": \"/content/0009\"}]}",
       "openstack/content/0009: missing"},
      {"openstack/latest/network_data.json", "{",
       "openstack/latest/network_data.json: malformed JSON"},
      {"openstack/latest/vendor_data.json", "nope",
       "openstack/latest/vendor_data.json: malformed JSON"},
  };
  for (const auto& c : cases) {
    MapTree t = OpenStackTree();
    t.files[c.path] = c.text;
    auto d = LoadInstance(t, Layout::kOpenStack);
    ASSERT_FALSE(d) << c.text;
    EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(d.error().ToString(), c.error);
  }
  MapTree empty;
  auto d = LoadInstance(empty, Layout::kOpenStack);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().ToString(), "openstack/latest/meta_data.json: missing");
}

TEST(LoadInstanceTest, ASourceThatFailsIsNotAbsence) {
  MapTree t = OpenStackTree();
  t.failure = MakeError(ErrorCode::kTimeout, "http://169.254.169.254/x: timed out");
  auto d = LoadInstance(t, Layout::kOpenStack);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kTimeout);
}

TEST(LoadInstanceTest, Ec2Layout) {
  MapTree t;
  t.files["latest/meta-data/instance-id"] = "i-00000001";
  t.files["latest/meta-data/local-hostname"] = "web-01.novalocal";
  t.files["latest/meta-data/public-keys"] = "0=mykey\n1=other";
  t.files["latest/meta-data/public-keys/0/openssh-key"] = "ssh-rsa AAAA0 k0\n";
  t.files["latest/meta-data/public-keys/1/openssh-key"] = "ssh-rsa AAAA1 k1";
  t.files["latest/user-data"] = "#cloud-config\n";
  auto d = LoadInstance(t, Layout::kEc2);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->instance_id, "i-00000001");
  EXPECT_EQ(d->hostname, "web-01.novalocal");
  EXPECT_EQ(d->ssh_keys, (std::vector<std::string>{"ssh-rsa AAAA0 k0", "ssh-rsa AAAA1 k1"}));
  EXPECT_EQ(d->user_data, "#cloud-config\n");
  t.files["latest/meta-data/public-keys"] = "zero=mykey";
  EXPECT_EQ(LoadInstance(t, Layout::kEc2).error().ToString(),
            "latest/meta-data/public-keys: not an index=name listing: zero=mykey");
}

TEST(LoadInstanceTest, NoCloudLayout) {
  MapTree t;
  t.files["meta-data"] =
      "instance-id: \"iid-1\"\nlocal-hostname: \"seed-host\"\npublic-keys:\n  - \"ssh-rsa A a\"\n";
  t.files["user-data"] = "#cloud-config\n{}\n";
  t.files["network-config"] = "version: 2\n";
  auto d = LoadInstance(t, Layout::kNoCloud);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_EQ(d->instance_id, "iid-1");
  EXPECT_EQ(d->hostname, "seed-host");
  EXPECT_EQ(d->ssh_keys, std::vector<std::string>{"ssh-rsa A a"});
  EXPECT_EQ(d->nocloud_network_config, "version: 2\n");
  t.files["meta-data"] = "local-hostname: x\n";
  EXPECT_EQ(LoadInstance(t, Layout::kNoCloud).error().ToString(),
            "meta-data: instance-id: missing");
  t.files["meta-data"] = "a:\n  b: c\n";
  EXPECT_EQ(LoadInstance(t, Layout::kNoCloud).error().ToString(),
            "meta-data: line 2: nested mappings are not read");
}

}  // namespace
}  // namespace metastack::guest
