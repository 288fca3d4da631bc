#include "core/route.h"

#include <gtest/gtest.h>

namespace metastack::core {
namespace {

TEST(RouteTest, NormalizeLikePosixpath) {
  EXPECT_EQ(NormalizePath(""), "/");
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("/openstack/latest/"), "/openstack/latest");
  EXPECT_EQ(NormalizePath("/a//b/./c/../d"), "/a/b/d");
  EXPECT_EQ(NormalizePath("/../../x"), "/x");
  EXPECT_EQ(NormalizePath("//openstack"), "/openstack");  // deliberate: Python keeps "//"
}

TEST(RouteTest, TopLevels) {
  EXPECT_EQ(ResolvePath("/").kind, RouteKind::kEc2Versions);
  EXPECT_EQ(ResolvePath("/ec2/").kind, RouteKind::kEc2Versions);
  EXPECT_EQ(ResolvePath("/openstack").kind, RouteKind::kOpenStackVersions);
  EXPECT_EQ(ResolvePath("openstack/").kind, RouteKind::kOpenStackVersions);
}

TEST(RouteTest, OpenStackFilesByVersion) {
  struct Case {
    const char* path;
    RouteKind kind;
    OpenStackFile file;
    int version;
  } cases[] = {
      {"/openstack/latest/meta_data.json", RouteKind::kOpenStack, OpenStackFile::kMetaData,
       kVictoria},
      {"/openstack/2012-08-10/", RouteKind::kOpenStack, OpenStackFile::kListing, kFolsom},
      {"/openstack/2013-04-04/password", RouteKind::kOpenStack, OpenStackFile::kPassword, kGrizzly},
      {"/openstack/2012-08-10/password", RouteKind::kNotFound, OpenStackFile::kListing, 0},
      {"/openstack/2012-08-10/vendor_data.json", RouteKind::kNotFound, OpenStackFile::kListing, 0},
      {"/openstack/2016-06-30/vendor_data2.json", RouteKind::kNotFound, OpenStackFile::kListing, 0},
      // network_data.json is served for every version, though listed only from 2015-10-15.
      {"/openstack/2012-08-10/network_data.json", RouteKind::kOpenStack,
       OpenStackFile::kNetworkData, kFolsom},
      {"/openstack/latest/version", RouteKind::kOpenStack, OpenStackFile::kListing, kVictoria},
      {"/openstack/2099-01-01/meta_data.json", RouteKind::kNotFound, OpenStackFile::kListing, 0},
      {"/openstack/latest/meta_data.json/x", RouteKind::kNotFound, OpenStackFile::kListing, 0},
      {"/openstack/latest/content", RouteKind::kNotFound, OpenStackFile::kListing, 0},
  };
  for (const auto& c : cases) {
    Route r = ResolvePath(c.path);
    EXPECT_EQ(r.kind, c.kind) << c.path;
    if (c.kind == RouteKind::kOpenStack) {
      EXPECT_EQ(r.file, c.file) << c.path;
      EXPECT_EQ(r.version, c.version) << c.path;
    }
  }
}

TEST(RouteTest, Content) {
  Route r = ResolvePath("/openstack/content/0001");
  EXPECT_EQ(r.kind, RouteKind::kContent);
  EXPECT_EQ(r.tokens, std::vector<std::string>{"0001"});
  EXPECT_EQ(ResolvePath("/openstack/content").kind, RouteKind::kNotFound);
  EXPECT_EQ(ResolvePath("/openstack/content/0001/x").kind, RouteKind::kNotFound);
}

TEST(RouteTest, Ec2) {
  Route r = ResolvePath("/latest/meta-data/public-keys/0/");
  EXPECT_EQ(r.kind, RouteKind::kEc2);
  EXPECT_EQ(r.version, 8);
  EXPECT_EQ(r.tokens, (std::vector<std::string>{"meta-data", "public-keys", "0"}));
  EXPECT_EQ(ResolvePath("/ec2/1.0/user-data").version, 0);
  EXPECT_EQ(ResolvePath("/2099-01-01/meta-data/").kind, RouteKind::kNotFound);
}

}  // namespace
}  // namespace metastack::core
