#pragma once
// Where a metadata path leads, independent of any instance: the version lists, an OpenStack
// file of a version, an EC2 subtree, or nothing. Paths are normalised as Nova does
// (posixpath.normpath: "//" collapsed, "." and ".." resolved, trailing "/" ignored; anything
// not under /openstack or /ec2 is taken as /ec2/...), with one deliberate difference: a path
// that starts with "//" is treated like "/" (Python keeps the two slashes and then serves the
// EC2 version list for any such path). The path must already be percent-decoded and have no
// query string. Pure; thread-safe.

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace metastack::core {

inline constexpr std::array<std::string_view, 9> kEc2Versions = {
    "1.0",        "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
    "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04"};

inline constexpr std::array<std::string_view, 9> kOpenStackVersions = {
    "2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
    "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14"};

// Indices into kOpenStackVersions of the versions that introduced something.
enum OpenStackVersion : int {
  kFolsom = 0,     // 2012-08-10
  kGrizzly = 1,    // 2013-04-04: random_seed, password
  kHavana = 2,     // 2013-10-17: vendor_data.json
  kLiberty = 3,    // 2015-10-15: project_id, network_data.json listed
  kNewtonOne = 4,  // 2016-06-30: devices
  kNewtonTwo = 5,  // 2016-10-06: vendor_data2.json
  kOcata = 6,      // 2017-02-22: nic vlan
  kRocky = 7,      // 2018-08-27: nic vf_trusted
  kVictoria = 8,   // 2020-10-14: dedicated_cpus
};

// Indices into kEc2Versions.
enum Ec2Version : int {
  kEc2_2007_01_19 = 1,  // local-hostname, public-hostname, public-ipv4
  kEc2_2007_08_29 = 3,  // instance-type
  kEc2_2007_12_15 = 5,  // block-device-mapping, kernel-id, ramdisk-id
  kEc2_2008_02_01 = 6,  // placement
  kEc2_2008_09_01 = 7,  // instance-action
  kEc2_2009_04_04 = 8,  // dynamic/ (with an identity key: core/identity.h)
};

enum class OpenStackFile {
  kListing,
  kMetaData,
  kUserData,
  kPassword,
  kVendorData,
  kVendorData2,
  kNetworkData
};

enum class RouteKind {
  kEc2Versions,        // "/" and "/ec2"
  kOpenStackVersions,  // "/openstack"
  kOpenStack,          // "/openstack/<version>[/<file>]"
  kContent,            // "/openstack/content/<key>"
  kEc2,                // "/<ec2 version>[/...]"
  kNotFound,
};

struct Route {
  RouteKind kind = RouteKind::kNotFound;
  int version = 0;  // index into the version list of the route's kind
  OpenStackFile file = OpenStackFile::kListing;
  std::vector<std::string> tokens;  // kEc2: the path below the version; kContent: {key}
};

Route ResolvePath(std::string_view path);

// posixpath.normpath with leading "//" collapsed; always starts with "/".
std::string NormalizePath(std::string_view path);

}  // namespace metastack::core
