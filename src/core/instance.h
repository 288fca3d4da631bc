#pragma once
// The instance document: everything metastack knows about one virtual machine, as operators
// write it (docs/instance-format.md). ParseInstance() validates a JSON document against Nova's
// limits and returns a value the renderers can trust: every address parses, every required
// field is present. Errors name the offending field ("ports[0].subnets[1].cidr: not a CIDR").
// Plain value types; thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "core/py_json.h"

namespace metastack::core {

struct PublicKey {
  std::string name;
  std::string data;
  std::string type = "ssh";  // "ssh" or "x509", from public_key_types
};

struct InjectedFile {
  std::string path;      // absolute path inside the guest
  std::string contents;  // raw bytes
};

struct HostRoute {
  std::string destination;  // CIDR
  std::string nexthop;      // IP
};

struct Subnet {
  std::string id;
  std::string cidr;
  int version = 4;  // derived from cidr
  std::optional<std::string> gateway_ip;
  std::vector<std::string> dns_nameservers;
  bool enable_dhcp = true;
  std::optional<std::string> dhcp_server;        // explicit value as written
  std::optional<std::string> ipv6_address_mode;  // slaac, dhcpv6-stateful, dhcpv6-stateless
  std::vector<HostRoute> host_routes;
  std::optional<std::string> ip_address;  // the port's fixed IP in this subnet

  // The DHCP server the guest sees, as Nova derives it: the explicit value, else the gateway
  // when DHCP is enabled. nullopt means "configured statically".
  std::optional<std::string> EffectiveDhcpServer() const;
};

struct Port {
  std::string id;
  std::string mac;
  std::string network_id;
  std::string network_name;
  std::optional<std::string> router_id;
  std::optional<int64_t> mtu;
  std::string vif_type = "ovs";
  bool injected = false;
  std::string devname;  // default "tap" + id[:11]
  std::vector<Subnet> subnets;
};

struct Device {
  std::string type;                // "nic" or "disk"
  std::optional<std::string> bus;  // pci, usb, scsi, ide, xen
  std::optional<std::string> address;
  std::optional<std::string> mac;
  std::optional<std::vector<std::string>> tags;
  std::optional<int64_t> vlan;
  std::optional<bool> vf_trusted;
  std::optional<std::string> serial;
  std::optional<std::string> path;
};

struct Ec2Info {
  std::optional<std::string> instance_id;  // default "i-" + first 8 hex digits of the uuid
  std::optional<std::string> ami_id;
  std::optional<std::string> kernel_id;
  std::optional<std::string> ramdisk_id;
  std::string instance_type;
  std::optional<std::string> reservation_id;  // default "r-" + hex digits 9..16 of the uuid
  std::vector<std::string> security_groups;
  std::optional<std::string> public_ipv4;
};

struct BlankDevice {
  std::string device;
  std::optional<std::string> guest_format;  // "swap" makes it the swap device
};

struct BlockDevices {
  std::optional<std::string> root_device_name;
  std::optional<std::string> default_ephemeral_device;
  std::optional<std::string> default_swap_device;
  std::vector<std::string> volumes;
  std::vector<BlankDevice> blanks;
};

// Whether a guest must use an IMDSv2 session token (docs/extensions.md, "Sessions"): AWS's
// HttpTokens. kOptional: a tokenless request is served (a token that is sent must be valid);
// kRequired: a tokenless request is 401.
enum class HttpTokens { kOptional, kRequired };
std::string_view HttpTokensName(HttpTokens policy);                // "optional", "required"
std::optional<HttpTokens> ParseHttpTokens(std::string_view name);  // nullopt for anything else

struct MetadataOptions {
  std::optional<HttpTokens> http_tokens;  // nullopt: the networks' or the daemon's policy
};

struct Instance {
  std::string uuid;
  std::string name;
  std::string hostname;
  std::string project_id;
  std::string user_id;
  std::optional<std::string> availability_zone;
  int64_t launch_index = 0;
  std::optional<std::string> created_at;
  std::optional<std::string> image_id;
  std::vector<PublicKey> public_keys;                     // in document order
  std::optional<std::string> user_data;                   // raw bytes; nullopt = no user data
  std::vector<std::pair<std::string, std::string>> meta;  // in document order
  std::vector<InjectedFile> files;
  std::optional<std::string> admin_pass;
  std::optional<std::string> password;  // a password the guest already posted
  Ec2Info ec2;
  BlockDevices block_devices;
  std::vector<Port> ports;
  std::optional<Json> vendor_data;  // nullopt: the deployment's default applies
  std::vector<Device> devices;
  std::vector<int64_t> dedicated_cpus;
  MetadataOptions metadata_options;
  // Nova's instance.config_drive (`nova boot --config-drive=true`): a daemon keeping drives
  // (`[configdrive] dir`) keeps one for this instance. Not served; written back only when true.
  bool config_drive = false;
};

// Nova's limits, and ours where Nova has only quotas.
struct DocumentLimits {
  static constexpr size_t kMaxUserDataBase64 = 65535;  // Nova: user_data column
  static constexpr size_t kMaxMetaItems = 128;
  static constexpr size_t kMaxMetaChars = 255;  // keys and values, in characters
  static constexpr size_t kMaxFiles = 64;
  static constexpr size_t kMaxFileBytes = 1 << 20;
  static constexpr size_t kMaxFilesTotalBytes = 16 << 20;
  static constexpr size_t kMaxFilePath = 255;
  static constexpr size_t kMaxPasswordBytes = 4 * 255;  // Nova: four 255-character chunks
  static constexpr size_t kMaxPorts = 64;
  static constexpr size_t kMaxDocumentBytes = 64 << 20;
};

// Parses and validates a document. Unknown fields are rejected so that a typo is not silently
// ignored.
Result<Instance> ParseInstance(std::string_view json_text);
Result<Instance> ParseInstanceJson(const Json& doc);

// The canonical JSON form of an instance (what ParseInstanceJson accepts back unchanged);
// user data and binary file contents are written base64-encoded.
Json InstanceToJson(const Instance& instance);

// Validates a string as a hostname: every name Nova 26 can store as instance.hostname, and DNS
// names. That is either dot-separated labels of ASCII letters, digits and '-', each 1..63
// characters, not starting or ending with '-', 253 characters at most (the API's `hostname`
// field, Nova's default "Server-<uuid>", and FQDNs); or what nova.utils.sanitize_hostname makes of
// a display name: 1..63 characters of lower-case ASCII letters, digits, '-' and the Latin-1
// letters and digits it keeps ("café-server", "münchen"), not starting or ending with '-'.
bool IsValidHostname(std::string_view name);

bool IsValidUuid(std::string_view text);

}  // namespace metastack::core
