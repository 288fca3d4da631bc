#pragma once
// Finding this instance's metadata: each source in the configured order, the first that is
// present wins.
//   config-drive  a drive labelled config-2 (either case; ISO 9660 or VFAT, read in place), or
//                 each of `drives` (a device, an image file or a mounted directory) when given;
//                 OpenStack layout.
//   service       each of `urls` in turn (169.254.169.254, then fe80::a9fe:a9fe on each
//                 interface): the OpenStack tree, or the EC2 tree when the service has no
//                 OpenStack one (404 on openstack/latest/meta_data.json).
//   nocloud       a drive labelled cidata (either case), or each of `nocloud_drives`.
// A source that is absent (no such drive, a service that does not answer within its retries)
// is skipped, with a line to `say`; a source that is present but serves bad metadata is an error
// and stops the search: metadata must not silently come from a different source than the one
// the operator provided. When every source is absent: kNotFound "no metadata source found
// (tried: ...)". Blocking.

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "guest/instance_data.h"
#include "guest/service.h"

namespace metastack::guest {

enum class SourceKind { kConfigDrive, kService, kNoCloud };

struct SourceOptions {
  std::vector<SourceKind> order = {SourceKind::kConfigDrive, SourceKind::kService,
                                   SourceKind::kNoCloud};
  std::vector<std::string> drives;          // empty: search by label
  std::vector<std::string> nocloud_drives;  // empty: search by label
  std::vector<std::string> urls;            // empty: DefaultServiceUrls()
  ServiceOptions service;                   // timeouts and retries (base_url ignored)
  std::string sys_block = "/sys/class/block";
  std::string dev_dir = "/dev";
  std::string sys_class_net = "/sys/class/net";
  std::function<void(const std::string&)> say = [](const std::string&) {};
};

// "config-drive", "service", "nocloud"; and back (kInvalidArgument naming the choices).
std::string_view SourceName(SourceKind kind);
Result<SourceKind> ParseSourceName(std::string_view name);

// http://169.254.169.254, then http://[fe80::a9fe:a9fe%IF] for each interface in
// `sys_class_net` other than loopback, by name.
std::vector<std::string> DefaultServiceUrls(const std::string& sys_class_net);

Result<InstanceData> FindInstance(const SourceOptions& options);

}  // namespace metastack::guest
