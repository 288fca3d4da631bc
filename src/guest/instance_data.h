#pragma once
// What a guest acts on, read from one source's tree in the source's own layout:
//   OpenStack  openstack/latest/meta_data.json (+ network_data.json, user_data,
//              vendor_data.json, vendor_data2.json, content/NNNN for injected files); the same
//              on a config drive and from the metadata service.
//   EC2        latest/meta-data/{instance-id,local-hostname,public-keys/...}, latest/user-data
//              (the metadata service's EC2 tree, for a service without the OpenStack one).
//   NoCloud    meta-data (YAML: instance-id, local-hostname, public-keys), user-data,
//              network-config (kept as text for cloud-init; not rendered here).
// Loading reads and checks everything before anything is applied: malformed JSON or a missing
// required field is kInvalidArgument naming the file and field. Blocking (it reads the tree);
// the values are plain data.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "guest/tree.h"

namespace metastack::guest {

enum class Layout { kOpenStack, kEc2, kNoCloud };

struct InjectedFile {
  std::string path;  // absolute, in the guest
  std::string contents;
};

struct InstanceData {
  std::string source;  // Tree::Describe() of where it came from
  Layout layout = Layout::kOpenStack;
  std::string instance_id;            // the uuid (OpenStack), instance-id (EC2, NoCloud)
  std::string hostname;               // as served ("web-01.novalocal"); may be empty
  std::vector<std::string> ssh_keys;  // OpenSSH public key lines, in the source's order
  std::vector<InjectedFile> files;
  std::optional<std::string> user_data;
  std::optional<nlohmann::json> network_data;         // network_data.json, OpenStack layout only
  std::optional<std::string> vendor_data;             // vendor_data.json text, kept for consumers
  std::optional<std::string> vendor_data2;            // vendor_data2.json text
  std::optional<std::string> nocloud_network_config;  // NoCloud network-config text
  std::optional<std::string> admin_pass;              // meta_data.json's (config drives carry it)
  std::string service_url;  // the metadata service it came from ("" for a drive or seed)
  // The session token that service granted, if any (IMDSv2): requests made after the load
  // (the password's) carry it, so they pass where tokens are required.
  std::optional<std::string> service_token;
};

Result<InstanceData> LoadInstance(Tree& tree, Layout layout);

// "openstack", "ec2", "nocloud".
std::string_view LayoutName(Layout layout);

}  // namespace metastack::guest
