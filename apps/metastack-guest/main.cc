// metastack-guest: find this instance's metadata, then apply it once (src/guest/).
#include <CLI/CLI.hpp>
#include <iostream>

#include "base/log.h"
#include "base/version.h"
#include "guest/apply.h"
#include "guest/network_config.h"
#include "guest/sources.h"

namespace {

using namespace metastack;
using namespace metastack::guest;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoSource = 3;

constexpr const char* kDescription =
    "metastack-guest gives an image without cloud-init its identity at first boot: it reads\n"
    "this instance's metadata from a config drive (read in place, never mounted), the metadata\n"
    "service (169.254.169.254, then fe80::a9fe:a9fe on each interface) or a NoCloud seed, in\n"
    "that order, and applies it once: host name, SSH keys, injected files, user data (a #!\n"
    "script runs once; other formats are saved), network configuration for systemd-networkd\n"
    "and ifupdown. A second run for the same instance changes nothing.\n"
    "\n"
    "Exit status: 0 applied (or nothing to do), 1 failed (nothing or only whole files were\n"
    "written, and the next run tries again), 2 bad usage, 3 no metadata source found.";

struct Flags {
  std::vector<std::string> sources = {"config-drive", "service", "nocloud"};
  std::vector<std::string> drives, nocloud_drives, urls;
  double connect_timeout = 2, request_timeout = 5, retry_delay = 0.5;
  int attempts = 3;
  std::string root = "/", state_dir = "/var/lib/metastack-guest", user = "root";
  std::string network = "auto";
  bool dry_run = false, force = false, no_scripts = false, verbose = false, quiet = false;
  bool set_password = false;
  std::string sys_block = "/sys/class/block", dev_dir = "/dev", sys_class_net = "/sys/class/net";
};

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

Result<NetworkMode> ParseNetworkMode(const std::string& s) {
  if (s == "auto") return NetworkMode::kAuto;
  if (s == "networkd") return NetworkMode::kNetworkd;
  if (s == "ifupdown") return NetworkMode::kIfupdown;
  if (s == "both") return NetworkMode::kBoth;
  if (s == "none") return NetworkMode::kNone;
  return InvalidField("--network", "one of auto, networkd, ifupdown, both, none");
}

int Run(const Flags& f) {
  SetLogLevel(f.verbose ? LogLevel::kDebug : LogLevel::kInfo);
  auto say = [&](const std::string& line) {
    if (!f.quiet) std::cout << "metastack-guest: " << line << std::endl;
  };
  SourceOptions src;
  src.order.clear();
  for (const auto& s : f.sources) {
    auto kind = ParseSourceName(s);
    if (!kind) {
      std::cerr << "metastack-guest: --source: " << kind.error().message << "\n";
      return kExitUsage;
    }
    src.order.push_back(*kind);
  }
  auto mode = ParseNetworkMode(f.network);
  if (!mode) {
    std::cerr << "metastack-guest: " << mode.error().ToString() << "\n";
    return kExitUsage;
  }
  src.drives = f.drives;
  src.nocloud_drives = f.nocloud_drives;
  src.urls = f.urls;
  src.service.connect_timeout = Ms(f.connect_timeout);
  src.service.request_timeout = Ms(f.request_timeout);
  src.service.retry_delay = Ms(f.retry_delay);
  src.service.attempts = f.attempts;
  src.sys_block = f.sys_block;
  src.dev_dir = f.dev_dir;
  src.sys_class_net = f.sys_class_net;
  src.say = say;
  auto data = FindInstance(src);
  if (!data) {
    std::cerr << "metastack-guest: " << data.error().ToString() << "\n";
    return data.error().code == ErrorCode::kNotFound ? kExitNoSource : kExitFailure;
  }
  say("instance " + data->instance_id + " from " + data->source + " (" +
      std::string(LayoutName(data->layout)) + " layout)");
  ApplyOptions apply;
  apply.root = f.root;
  apply.state_dir = f.state_dir;
  apply.user = f.user;
  apply.dry_run = f.dry_run;
  apply.force = f.force;
  apply.run_user_data = !f.no_scripts;
  apply.network = *mode;
  apply.nics = ReadNics(f.sys_class_net);
  apply.say = [&](const std::string& line) { say((f.dry_run ? "would " : "") + line); };
  apply.set_password = f.set_password;
  if (f.set_password && !data->service_url.empty() && data->layout == Layout::kOpenStack) {
    // cloudbase-init's path: the first version that has a password.
    constexpr const char* kPasswordPath = "/openstack/2013-04-04/password";
    ServiceOptions service = src.service;
    service.base_url = data->service_url;
    std::optional<std::string> token = data->service_token;
    apply.password_service = ApplyOptions::PasswordService{
        service.base_url + kPasswordPath,
        [service, token]() -> Result<std::string> {
          METASTACK_ASSIGN_OR_RETURN(HttpAnswer got,
                                     HttpRequest(service, "GET", kPasswordPath, {}, token));
          if (got.status != 200)
            return std::unexpected(MakeError(
                ErrorCode::kUnavailable,
                service.base_url + kPasswordPath + ": status " + std::to_string(got.status)));
          return got.body;
        },
        [service, token](const std::string& encrypted) -> Result<int> {
          METASTACK_ASSIGN_OR_RETURN(HttpAnswer got,
                                     HttpRequest(service, "POST", kPasswordPath, encrypted, token));
          return got.status;
        }};
  }
  auto result = Apply(*data, apply);
  if (!result) {
    std::cerr << "metastack-guest: " << result.error().ToString() << "\n";
    return kExitFailure;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kDescription, "metastack-guest"};
  app.set_version_flag("--version", "metastack-guest " + std::string(Version()));
  Flags f;
  app.add_option("--source", f.sources, "Sources to try, in order (config-drive, service, nocloud)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--drive", f.drives,
                 "Read the config drive from this device, image file or mounted directory "
                 "instead of searching for the label config-2 (repeatable)");
  app.add_option("--nocloud-drive", f.nocloud_drives,
                 "Read the NoCloud seed from this device, image file or directory instead of "
                 "searching for the label cidata (repeatable)");
  app.add_option("--url", f.urls,
                 "Metadata service base URL, e.g. http://169.254.169.254 or "
                 "http://[fe80::a9fe:a9fe%eth0] (repeatable; default: those two, the second on "
                 "each interface)");
  app.add_option("--connect-timeout", f.connect_timeout, "Seconds to connect to the service")
      ->capture_default_str();
  app.add_option("--timeout", f.request_timeout, "Seconds for each whole answer")
      ->capture_default_str();
  app.add_option("--attempts", f.attempts, "Tries per request before a URL counts as absent")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--retry-delay", f.retry_delay, "Seconds between tries")->capture_default_str();
  app.add_option("--root", f.root, "Apply to this directory tree instead of /")
      ->capture_default_str();
  app.add_option("--state-dir", f.state_dir,
                 "Where the instance id, user data and vendor data are kept (inside the root)")
      ->capture_default_str();
  app.add_option("--user", f.user, "Whose authorized_keys receive the SSH keys")
      ->capture_default_str();
  app.add_option("--network", f.network,
                 "Network configuration to write: auto (networkd when the root has "
                 "/etc/systemd, ifupdown when it has /etc/network), networkd, ifupdown, both, none")
      ->capture_default_str();
  app.add_flag("--dry-run", f.dry_run, "Print every action; write, run and set nothing");
  app.add_flag("--force", f.force, "Apply even if this instance was applied already");
  app.add_flag("--no-user-data-scripts", f.no_scripts, "Save a #! user data script; do not run it");
  app.add_flag("--set-password", f.set_password,
               "Set --user's password as cloudbase-init does: the instance's admin_pass, else a "
               "generated one posted to the metadata service encrypted with the first ssh-rsa key "
               "(for `nova get-password`)");
  app.add_flag("-v,--verbose", f.verbose, "Log each request and probe");
  app.add_flag("-q,--quiet", f.quiet, "Print errors only");
  app.add_option("--sys-block", f.sys_block, "Block devices to probe for labels")
      ->capture_default_str()
      ->group("Testing");
  app.add_option("--dev-dir", f.dev_dir, "Where those devices' nodes are")
      ->capture_default_str()
      ->group("Testing");
  app.add_option("--sys-class-net", f.sys_class_net, "Network interfaces (names and MACs)")
      ->capture_default_str()
      ->group("Testing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  return Run(f);
}
