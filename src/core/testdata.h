#pragma once
// Instances shared by the tests: a complete document (the one in docs/instance-format.md), and
// a minimal instance with one port.

#include <string>

#include "core/instance.h"
#include "core/py_json.h"

namespace metastack::core::testing {

inline Json ExampleDocument() {
  return Json::parse(R"({
    "uuid": "b65cee2f-8c69-4aeb-be2f-f79742548fc2",
    "name": "web-01",
    "hostname": "web-01",
    "project_id": "3d2b1fa1c2e84b6d9f4e0d7c9a6b5e41",
    "user_id": "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b",
    "availability_zone": "nova",
    "launch_index": 0,
    "public_keys": {"mykey": "ssh-ed25519 AAAAC3Nza alice@laptop"},
    "user_data": "#cloud-config\n",
    "meta": {"role": "web", "tier": "frontend"},
    "files": [{"path": "/etc/motd", "contents": "Welcome\n"}],
    "admin_pass": "Adm1n",
    "ec2": {"instance_id": "i-0000002a", "ami_id": "ami-00000003", "kernel_id": null,
            "ramdisk_id": null, "instance_type": "m1.small", "reservation_id": "r-7ux2ht9q",
            "security_groups": ["default", "web"], "public_ipv4": "203.0.113.10"},
    "block_devices": {"root_device_name": "/dev/vda", "volumes": ["/dev/vdb"]},
    "ports": [{
      "id": "1f8b2e6a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "mac": "fa:16:3e:12:34:56",
      "network_id": "7e5a1b2c-3d4e-4f50-9a8b-7c6d5e4f3a2b", "network_name": "private",
      "mtu": 1450, "vif_type": "ovs",
      "subnets": [{"id": "aa11", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1",
                   "dns_nameservers": ["10.0.0.2", "8.8.8.8"], "enable_dhcp": false,
                   "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}],
                   "ip_address": "10.0.0.5"}]
    }],
    "vendor_data": {"cloud": "example"},
    "devices": [{"type": "nic", "bus": "pci", "address": "0000:00:03.0",
                 "mac": "fa:16:3e:12:34:56", "tags": ["mgmt"]}]
  })");
}

// A valid instance "vm" of `project` with one port ("port-<uuid>", fa:16:3e:00:00:01) on
// `network` holding `ip` (in 10.0.0.0/8, or fd00::/64 for an IPv6 address).
inline Instance InstanceWithPort(const std::string& uuid, const std::string& network,
                                 const std::string& ip, const std::string& project = "proj-a") {
  Json doc = {{"uuid", uuid},
              {"hostname", "vm"},
              {"project_id", project},
              {"ports",
               {{{"id", "port-" + uuid},
                 {"mac", "fa:16:3e:00:00:01"},
                 {"network_id", network},
                 {"subnets",
                  {{{"cidr", ip.find(':') == std::string::npos ? "10.0.0.0/8" : "fd00::/64"},
                    {"ip_address", ip}}}}}}}};
  return ParseInstanceJson(doc).value();
}

}  // namespace metastack::core::testing
