#pragma once
// Applies an instance to a root tree, once per instance, as a first boot needs it:
//   hostname   /etc/hostname (the short name), /etc/hosts (one "127.0.1.1 <fqdn> <short>" line,
//              replacing an earlier 127.0.1.1 line), and the running host name when the root
//              is "/" (sethostname(2)).
//   SSH keys   appended to <user's home>/.ssh/authorized_keys (home, uid and gid from the root's
//              /etc/passwd); keys already there are kept and never written twice; .ssh is 0700
//              and the file 0600, both owned by the user.
//   files      each injected file at its path, mode 0660 owned by root (as cloud-init writes
//              them); missing directories 0755.
//   user data  saved as <state>/user-data (0600); when it starts with "#!" it is also saved as
//              <state>/user-data.script (0700) and run once, after everything else is written,
//              its exit status logged and saved in <state>/user-data.status. Other formats
//              (#cloud-config, MIME, gzip) are saved for whatever consumes them.
//   vendor     vendor_data.json / vendor_data2.json / a NoCloud network-config saved in <state>.
//   network    network_data.json rendered for systemd-networkd (/etc/systemd/network) when the
//              root has /etc/systemd, and as /etc/network/interfaces when it has /etc/network
//              (NetworkMode::kAuto), or as chosen. In kAuto a configuration that cannot be
//              rendered (ifupdown needs each link's NIC present, by MAC) is reported and left
//              out; chosen explicitly, it is an error.
//   password   with set_password, as cloudbase-init's SetUserPasswordPlugin: the instance's
//              admin_pass (a config drive's), else a generated password when the metadata came
//              from the service and no password was posted there yet, set for `user` in
//              /etc/shadow (its mode and owner kept) and, once the files are written, posted to
//              the service encrypted with the instance's first ssh-rsa key. A generated password
//              is set only where it can be posted (otherwise no one could learn it): without the
//              service, or with one already posted, or without an ssh-rsa key, nothing changes
//              and a line says why.
//   state      <state>/instance-id written last: a later run for the same instance changes
//              nothing (unless forced); another instance id applies again.
// Everything is read, checked and rendered before the first write (bad metadata, a path that
// escapes the root, a user missing from /etc/passwd: an error, and nothing is written); each file
// is then written atomically (RootFs::WriteFiles). A failure part-way leaves the state file
// unwritten, so the next run applies the instance again. Blocking; not thread-safe (it may run a
// script and set the host name).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "guest/instance_data.h"

namespace metastack::guest {

enum class NetworkMode { kAuto, kNetworkd, kIfupdown, kBoth, kNone };

struct ApplyOptions {
  std::string root = "/";
  std::string state_dir = "/var/lib/metastack-guest";  // a guest path, inside the root
  std::string user = "root";                           // who gets the SSH keys
  bool dry_run = false;  // print every action; write, run and set nothing
  bool force = false;    // apply even when the state file names this instance
  bool run_user_data = true;
  NetworkMode network = NetworkMode::kAuto;
  std::map<std::string, std::string> nics;  // MAC -> name (ReadNics), for ifupdown
  bool set_password = false;
  // How a generated password reaches the metadata service the instance came from; none when
  // it came from a drive. `posted` is the service's stored password ("" when none); `post` gives
  // it one and returns the HTTP status (Nova and metastack answer 409 to a second one).
  struct PasswordService {
    std::string where;  // for messages: the URL
    std::function<Result<std::string>()> posted;
    std::function<Result<int>(const std::string& encrypted)> post;
  };
  std::optional<PasswordService> password_service;
  // Called with one line per action ("write /etc/hostname (7 bytes, mode 0644)"); in a dry run
  // these are what would be done.
  std::function<void(const std::string&)> say = [](const std::string&) {};
};

struct ApplyResult {
  bool already_applied = false;       // the state file named this instance; nothing was done
  std::vector<std::string> actions;   // every line `say` got
  std::optional<int> user_data_exit;  // a script's exit status (-1: killed or not started)
};

Result<ApplyResult> Apply(const InstanceData& data, const ApplyOptions& options);

// The host name split as cloud-init's get_hostname_fqdn does: "web-01.example.org" ->
// {"web-01", "web-01.example.org"}; a name without a dot is its own fqdn. kInvalidArgument
// "hostname: not a valid host name" for anything but letters, digits, UTF-8 beyond ASCII,
// '-', '_' and '.', or
// labels empty or over 63 bytes, or over 253 in all.
struct HostName {
  std::string short_name;
  std::string fqdn;
};
Result<HostName> SplitHostName(const std::string& hostname);

}  // namespace metastack::guest
