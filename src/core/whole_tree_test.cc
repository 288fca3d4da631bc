#include "core/whole_tree.h"

#include <gtest/gtest.h>

#include "core/testdata.h"

namespace metastack::core {
namespace {

using Form = TreeQuery::Form;

void FixedRandom(std::span<uint8_t> out) { std::fill(out.begin(), out.end(), 7); }

class WholeTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inst = ParseInstanceJson(testing::ExampleDocument());
    ASSERT_TRUE(inst) << inst.error().ToString();
    instance_ = *inst;
    ctx_.random = FixedRandom;
  }

  // The body, or "<code>" for an error; `type` gets the content type.
  std::string Get(std::string_view path, TreeQuery q, std::string* type = nullptr) {
    auto doc = RenderTree(instance_, ResolvePath(path), settings_, ctx_, q);
    if (!doc) return "<" + std::string(ErrorCodeName(doc.error().code)) + ">";
    if (type) *type = doc->content_type;
    return doc->body;
  }
  std::string Plain(std::string_view path) {
    return Lookup(instance_, path, settings_, ctx_)->body;
  }

  Instance instance_;
  Settings settings_;
  RenderContext ctx_;
  const TreeQuery recursive_{true, Form::kDefault};
  const TreeQuery recursive_text_{true, Form::kText};
  const TreeQuery json_{false, Form::kJson};
};

TEST_F(WholeTreeTest, WithoutRecursiveOrJsonTheAnswerIsNovas) {
  for (std::string_view path :
       {"/latest/meta-data/", "/latest/meta-data/public-keys/0", "/latest/user-data",
        "/openstack/latest", "/openstack/latest/meta_data.json", "/openstack", "/ec2"}) {
    std::string type;
    EXPECT_EQ(Get(path, {}, &type), Plain(path)) << path;
    EXPECT_EQ(Get(path, {false, Form::kText}), Plain(path)) << path;
    EXPECT_EQ(type, Lookup(instance_, path, settings_, ctx_)->content_type) << path;
  }
}

TEST_F(WholeTreeTest, Ec2DirectoriesAsJsonObjects) {
  std::string type;
  EXPECT_EQ(Get("/latest/meta-data/placement", recursive_, &type),
            R"({"availability-zone": "nova"})");
  EXPECT_EQ(type, "application/json");
  // Keyed by path component (public-keys/0/openssh-key), not by the listing's "0=mykey".
  EXPECT_EQ(Get("/latest/meta-data/public-keys/", recursive_),
            R"({"0": {"openssh-key": "ssh-ed25519 AAAAC3Nza alice@laptop"}})");
  EXPECT_EQ(Get("/2009-04-04/meta-data/block-device-mapping", recursive_),
            R"({"ami": "vda", "ebs0": "/dev/vdb", "root": "/dev/vda"})");
  EXPECT_EQ(Get("/latest/meta-data/", {true, Form::kJson}),
            R"({"ami-id": "ami-00000003", "ami-launch-index": 0, "ami-manifest-path": "FIXME", )"
            R"("block-device-mapping": {"ami": "vda", "ebs0": "/dev/vdb", "root": "/dev/vda"}, )"
            R"("hostname": "web-01.novalocal", "instance-action": "none", )"
            R"("instance-id": "i-0000002a", "instance-type": "m1.small", )"
            R"("local-hostname": "web-01.novalocal", "local-ipv4": "10.0.0.5", )"
            R"("placement": {"availability-zone": "nova"}, )"
            R"("public-hostname": "web-01.novalocal", "public-ipv4": "203.0.113.10", )"
            R"("public-keys": {"0": {"openssh-key": "ssh-ed25519 AAAAC3Nza alice@laptop"}}, )"
            R"("reservation-id": "r-7ux2ht9q", "security-groups": ["default", "web"]})");
}

TEST_F(WholeTreeTest, Ec2WholeVersion) {
  EXPECT_EQ(Get("/1.0", recursive_).substr(0, 13), R"({"meta-data":)");
  auto whole = Json::parse(Get("/latest", recursive_));
  EXPECT_EQ(whole["user-data"], "#cloud-config\n");
  EXPECT_EQ(whole["meta-data"]["hostname"], "web-01.novalocal");
  EXPECT_EQ(whole.size(), 2u);
}

TEST_F(WholeTreeTest, Ec2AsTextLines) {
  std::string type;
  EXPECT_EQ(Get("/latest/meta-data/", recursive_text_, &type),
            "ami-id ami-00000003\n"
            "ami-launch-index 0\n"
            "ami-manifest-path FIXME\n"
            "block-device-mapping/ami vda\n"
            "block-device-mapping/ebs0 /dev/vdb\n"
            "block-device-mapping/root /dev/vda\n"
            "hostname web-01.novalocal\n"
            "instance-action none\n"
            "instance-id i-0000002a\n"
            "instance-type m1.small\n"
            "local-hostname web-01.novalocal\n"
            "local-ipv4 10.0.0.5\n"
            "placement/availability-zone nova\n"
            "public-hostname web-01.novalocal\n"
            "public-ipv4 203.0.113.10\n"
            "public-keys/0/openssh-key ssh-ed25519 AAAAC3Nza alice@laptop\n"
            "reservation-id r-7ux2ht9q\n"
            "security-groups/0 default\n"
            "security-groups/1 web\n");
  EXPECT_EQ(type, "text/plain; charset=UTF-8");
  // A leaf alone reads as without the query; None as Nova prints it.
  EXPECT_EQ(Get("/latest/meta-data/hostname", recursive_text_), "web-01.novalocal");
  instance_.availability_zone.reset();
  EXPECT_EQ(Get("/latest/meta-data/placement", recursive_text_), "availability-zone None\n");
}

TEST_F(WholeTreeTest, Ec2AsJsonWithoutRecursive) {
  EXPECT_EQ(Get("/latest/meta-data/security-groups", json_), R"(["default", "web"])");
  EXPECT_EQ(Get("/latest/meta-data/hostname", json_), R"("web-01.novalocal")");
  EXPECT_EQ(Get("/latest/meta-data/ami-launch-index", json_), "0");
  EXPECT_EQ(Get("/latest/meta-data/public-keys", json_), R"(["0=mykey"])");
  EXPECT_EQ(Get("/latest/meta-data/placement/", json_), R"(["availability-zone"])");
  EXPECT_EQ(Get("/latest", json_), R"(["meta-data/", "user-data"])");
  instance_.availability_zone.reset();
  EXPECT_EQ(Get("/latest/meta-data/placement/availability-zone", json_), "null");
}

TEST_F(WholeTreeTest, ValuesThatAreNotUtf8AreBase64InJson) {
  instance_.user_data = std::string("\x1f\x8b\x08\x00", 4);
  EXPECT_EQ(Get("/latest/user-data", json_), R"({"base64": "H4sIAA=="})");
  EXPECT_EQ(Json::parse(Get("/latest", recursive_))["user-data"], Json({{"base64", "H4sIAA=="}}));
  EXPECT_EQ(Get("/openstack/latest/user_data", recursive_), R"({"base64": "H4sIAA=="})");
  instance_.user_data = "caf\xc3\xa9";
  EXPECT_EQ(Get("/latest/user-data", json_), R"("caf\u00e9")");
}

TEST_F(WholeTreeTest, OpenStackVersionAsOneObject) {
  std::string type;
  std::string got = Get("/openstack/latest", recursive_, &type);
  EXPECT_EQ(type, "application/json");
  // Each JSON file embedded as served (Nova's key order), the others as strings, in the
  // listing's order.
  EXPECT_EQ(got, "{\"meta_data.json\": " + Plain("/openstack/latest/meta_data.json") +
                     ", \"user_data\": \"#cloud-config\\n\", \"password\": \"\", "
                     "\"vendor_data.json\": " +
                     Plain("/openstack/latest/vendor_data.json") +
                     ", \"network_data.json\": " + Plain("/openstack/latest/network_data.json") +
                     ", \"vendor_data2.json\": " + Plain("/openstack/latest/vendor_data2.json") +
                     "}");
  EXPECT_EQ(Json::parse(got)["vendor_data.json"], Json({{"cloud", "example"}}));
  // An older version has only its own files.
  EXPECT_EQ(Get("/openstack/2012-08-10", recursive_),
            "{\"meta_data.json\": " + Plain("/openstack/2012-08-10/meta_data.json") +
                ", \"user_data\": \"#cloud-config\\n\"}");
}

TEST_F(WholeTreeTest, OpenStackVersionAsTextLines) {
  std::string got = Get("/openstack/2013-10-17/", recursive_text_);
  EXPECT_EQ(got,
            "meta_data.json/uuid b65cee2f-8c69-4aeb-be2f-f79742548fc2\n"
            "meta_data.json/meta/role web\n"
            "meta_data.json/meta/tier frontend\n"
            "meta_data.json/public_keys/mykey ssh-ed25519 AAAAC3Nza alice@laptop\n"
            "meta_data.json/keys/0/name mykey\n"
            "meta_data.json/keys/0/type ssh\n"
            "meta_data.json/keys/0/data ssh-ed25519 AAAAC3Nza alice@laptop\n"
            "meta_data.json/hostname web-01.novalocal\n"
            "meta_data.json/name web-01\n"
            "meta_data.json/launch_index 0\n"
            "meta_data.json/availability_zone nova\n"
            "meta_data.json/random_seed " +
                Json::parse(Plain("/openstack/2013-10-17/meta_data.json"))["random_seed"]
                    .get<std::string>() +
                "\n"
                // user data ends with a line feed: written as it is.
                "user_data #cloud-config\n\n"
                "password \n"
                "vendor_data.json/cloud example\n");
}

TEST_F(WholeTreeTest, OpenStackFiles) {
  std::string type;
  EXPECT_EQ(Get("/openstack/latest/user_data", json_, &type), R"("#cloud-config\n")");
  EXPECT_EQ(type, "application/json");
  EXPECT_EQ(Get("/openstack/latest/meta_data.json", recursive_),
            Plain("/openstack/latest/meta_data.json"));
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json", json_), R"({"cloud": "example"})");
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json", recursive_text_, &type), "cloud example\n");
  EXPECT_EQ(type, "text/plain; charset=UTF-8");
  EXPECT_EQ(Get("/openstack/latest/network_data.json", recursive_text_).substr(0, 26),
            "links/0/id tap1f8b2e6a-3c\n");
  EXPECT_EQ(Get("/openstack/latest/user_data", recursive_text_), "#cloud-config\n");
  EXPECT_EQ(Get("/openstack/latest", json_),
            R"(["meta_data.json", "user_data", "password", "vendor_data.json", )"
            R"("network_data.json", "vendor_data2.json"])");
  EXPECT_EQ(Get("/openstack/content/0000", json_), "<not_found>");
  instance_.password = "pw\"1";
  EXPECT_EQ(Get("/openstack/latest/password", json_), R"("pw\"1")");
}

TEST_F(WholeTreeTest, VersionListsAndErrors) {
  EXPECT_EQ(Get("/openstack", recursive_), Plain("/openstack"));
  EXPECT_EQ(Get("/ec2", {true, Form::kJson}), Plain("/ec2"));
  EXPECT_EQ(Get("/latest/meta-data/nope", recursive_), "<not_found>");
  EXPECT_EQ(Get("/latest/meta-data/hostname/x", json_), "<not_found>");
  EXPECT_EQ(Get("/openstack/2012-08-10/vendor_data.json", recursive_), "<not_found>");
  instance_.user_data.reset();
  EXPECT_EQ(Get("/openstack/latest/user_data", recursive_), "<not_found>");
  EXPECT_EQ(Get("/latest", json_), R"(["meta-data/"])");
}

}  // namespace
}  // namespace metastack::core
