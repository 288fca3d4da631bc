#include "guest/apply.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/strings.h"
#include "guest/network_config.h"
#include "guest/password.h"
#include "guest/root_fs.h"

namespace metastack::guest {
namespace {

// Every file is rendered before anything is written.
using Write = FileWrite;

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode));
  return buf;
}

// Without blanks and line ends around it.
std::string TrimmedLine(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(TrimBlanks(s));
}

// /etc/hosts with our one 127.0.1.1 line (Debian's convention for the host's own name).
std::string HostsFile(const std::optional<std::string>& old, const HostName& name) {
  std::string line = "127.0.1.1\t" + name.fqdn;
  if (name.fqdn != name.short_name) line += " " + name.short_name;
  std::string out;
  bool placed = false;
  if (!old) out = "127.0.0.1\tlocalhost\n";
  for (const auto& l : old ? SplitLines(*old) : std::vector<std::string_view>{}) {
    std::string t = TrimmedLine(l);
    if (t.starts_with("127.0.1.1") && (t.size() == 9 || t[9] == ' ' || t[9] == '\t')) {
      if (!placed) out += line + "\n";
      placed = true;
      continue;
    }
    out += std::string(l) + "\n";
  }
  if (!placed) out += line + "\n";
  return out;
}

Result<Write> AuthorizedKeys(const RootFs& fs, const std::string& user,
                             const std::vector<std::string>& keys) {
  METASTACK_ASSIGN_OR_RETURN(PasswdEntry who, LookUpUser(fs, user));
  std::string path = who.home + (who.home.back() == '/' ? "" : "/") + ".ssh/authorized_keys";
  METASTACK_ASSIGN_OR_RETURN(auto old, fs.ReadIfExists(path));
  std::string out = old.value_or("");
  if (!out.empty() && out.back() != '\n') out += '\n';
  std::vector<std::string> present;
  for (const auto& l : SplitLines(out)) present.push_back(TrimmedLine(l));
  for (const auto& key : keys) {
    std::string k = TrimmedLine(key);
    if (k.empty() || std::find(present.begin(), present.end(), k) != present.end()) continue;
    out += k + "\n";
    present.push_back(k);
  }
  return Write{path, out, 0600, who.uid, who.gid, 0700};
}

bool IsScript(const std::optional<std::string>& user_data) {
  return user_data && user_data->starts_with("#!");
}

// Runs `path` with its working directory at `root`; the exit status, or -1.
int RunScript(const std::string& path, const std::string& root) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (chdir(root.c_str()) != 0) _exit(127);
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "metastack-guest: %s: %s\n", path.c_str(), std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The password to set, if any, and what to post once it is set (see apply.h).
struct PasswordPlan {
  std::optional<std::string> password;
  std::optional<std::string> to_post;
};

Result<PasswordPlan> PlanPassword(const InstanceData& data, const ApplyOptions& options,
                                  const std::function<void(std::string)>& say) {
  PasswordPlan plan;
  if (data.admin_pass && !data.admin_pass->empty()) {
    say("password: the instance's admin_pass, for " + options.user);
    plan.password = *data.admin_pass;
    return plan;
  }
  const auto& service = options.password_service;
  if (!service) {
    say("password: not set: a generated password must be posted to the metadata service, and "
        "this instance did not come from it");
    return plan;
  }
  METASTACK_ASSIGN_OR_RETURN(std::string posted, service->posted());
  if (!posted.empty()) {
    say("password: not changed: " + service->where + " has one posted already");
    return plan;
  }
  auto key = std::find_if(data.ssh_keys.begin(), data.ssh_keys.end(),
                          [](const std::string& k) { return k.starts_with("ssh-rsa "); });
  if (key == data.ssh_keys.end()) {
    say("password: not set: no ssh-rsa key to encrypt a generated password with");
    return plan;
  }
  std::string password = GeneratePassword();
  std::string name = key->substr(key->rfind(' ') + 1);
  auto encrypted = EncryptPassword(*key, password);
  if (!encrypted) {  // the key serves for logins still; only the password cannot be given
    say("password: not set: key " + name + ": " + encrypted.error().ToString());
    return plan;
  }
  plan.password = std::move(password);
  plan.to_post = std::move(*encrypted);
  say("password: generated for " + options.user + ", to be posted encrypted with key " + name);
  return plan;
}

}  // namespace

Result<HostName> SplitHostName(const std::string& hostname) {
  auto bad = [] { return InvalidField("hostname", "not a valid host name"); };
  if (hostname.empty() || hostname.size() > 253) return bad();
  size_t label = 0;
  for (char c : hostname) {
    auto u = static_cast<unsigned char>(c);
    if (c == '.') {
      if (label == 0) return bad();
      label = 0;
      continue;
    }
    if (!(std::isalnum(u) || c == '-' || c == '_' || u >= 0x80) || ++label > 63) return bad();
  }
  if (label == 0) return bad();
  return HostName{hostname.substr(0, hostname.find('.')), hostname};
}

Result<ApplyResult> Apply(const InstanceData& data, const ApplyOptions& options) {
  ApplyResult result;
  RootFs fs(options.root);
  auto say = [&](std::string line) {
    options.say(line);
    result.actions.push_back(std::move(line));
  };
  const std::string& state = options.state_dir;
  METASTACK_ASSIGN_OR_RETURN(auto applied, fs.ReadIfExists(state + "/instance-id"));
  if (applied && TrimmedLine(*applied) == data.instance_id && !options.force) {
    result.already_applied = true;
    say("instance " + data.instance_id + " was applied already (" + state +
        "/instance-id); nothing to do");
    return result;
  }

  // Everything is rendered and checked here, before the first write.
  std::vector<Write> writes;
  std::optional<HostName> host;
  if (!data.hostname.empty()) {
    METASTACK_ASSIGN_OR_RETURN(host, SplitHostName(data.hostname));
    writes.push_back({"/etc/hostname", host->short_name + "\n"});
    METASTACK_ASSIGN_OR_RETURN(auto hosts, fs.ReadIfExists("/etc/hosts"));
    writes.push_back({"/etc/hosts", HostsFile(hosts, *host)});
  }
  if (!data.ssh_keys.empty()) {
    METASTACK_ASSIGN_OR_RETURN(Write keys, AuthorizedKeys(fs, options.user, data.ssh_keys));
    writes.push_back(std::move(keys));
  }
  for (const auto& f : data.files) writes.push_back({f.path, f.contents, 0660, 0, 0});
  if (data.network_data && options.network != NetworkMode::kNone) {
    bool networkd = options.network == NetworkMode::kNetworkd ||
                    options.network == NetworkMode::kBoth ||
                    (options.network == NetworkMode::kAuto && fs.IsDirectory("/etc/systemd"));
    bool ifupdown = options.network == NetworkMode::kIfupdown ||
                    options.network == NetworkMode::kBoth ||
                    (options.network == NetworkMode::kAuto && fs.IsDirectory("/etc/network"));
    // Chosen by the operator, a network configuration that cannot be written is an error; found
    // by looking (auto), it is reported and left out, so that a NIC not present yet (the
    // ifupdown names come from the guest's NICs) does not keep the host name and keys away.
    auto render = [&](const char* what, auto&& rendered) -> Status {
      if (rendered) {
        for (auto& f : *rendered) writes.push_back({std::move(f.path), std::move(f.contents)});
        return Ok();
      }
      if (options.network != NetworkMode::kAuto) return std::unexpected(rendered.error());
      say(std::string("network: ") + what +
          " configuration not written: " + rendered.error().ToString());
      return Ok();
    };
    if (networkd)
      METASTACK_RETURN_IF_ERROR(
          render("systemd-networkd", RenderNetworkd(*data.network_data, options.nics)));
    if (ifupdown) {
      auto file = RenderIfupdown(*data.network_data, options.nics);
      METASTACK_RETURN_IF_ERROR(
          render("ifupdown", file ? Result<std::vector<ConfigFile>>(std::vector{std::move(*file)})
                                  : std::unexpected(file.error())));
    }
    if (!networkd && !ifupdown)
      say("network: the root has neither /etc/systemd nor /etc/network; nothing written");
  }
  PasswordPlan password;
  if (options.set_password) {
    METASTACK_ASSIGN_OR_RETURN(password, PlanPassword(data, options, say));
    if (password.password) {
      METASTACK_ASSIGN_OR_RETURN(auto shadow, fs.ReadIfExists("/etc/shadow"));
      if (!shadow) return InvalidField("/etc/shadow", "missing: cannot set a password");
      METASTACK_ASSIGN_OR_RETURN(std::string updated,
                                 ShadowWithPassword(*shadow, options.user, *password.password));
      METASTACK_ASSIGN_OR_RETURN(std::string path, fs.Resolve("/etc/shadow"));
      struct stat st {};
      if (stat(path.c_str(), &st) != 0)
        return std::unexpected(
            MakeError(ErrorCode::kUnavailable, path + ": " + std::strerror(errno)));
      writes.push_back(
          {"/etc/shadow", std::move(updated), st.st_mode & 07777, st.st_uid, st.st_gid});
    }
  }
  auto keep = [&](const char* name, const std::optional<std::string>& text, mode_t mode) {
    if (text) writes.push_back({state + "/" + name, *text, mode, 0, 0, 0700});
  };
  keep("user-data", data.user_data, 0600);
  if (IsScript(data.user_data) && options.run_user_data)
    keep("user-data.script", data.user_data, 0700);
  keep("vendor_data.json", data.vendor_data, 0600);
  keep("vendor_data2.json", data.vendor_data2, 0600);
  keep("network-config", data.nocloud_network_config, 0600);
  for (const auto& w : writes) METASTACK_RETURN_IF_ERROR(fs.Resolve(w.path));

  for (const auto& w : writes) {
    std::string owner = w.uid == static_cast<uid_t>(-1)
                            ? ""
                            : ", owner " + std::to_string(w.uid) + ":" + std::to_string(w.gid);
    say("write " + w.path + " (" + std::to_string(w.contents.size()) + " bytes, mode " +
        Octal(w.mode) + owner + ")");
  }
  if (!options.dry_run) METASTACK_RETURN_IF_ERROR(fs.WriteFiles(writes));
  if (password.to_post) {
    say("post the encrypted password to " + options.password_service->where);
    if (!options.dry_run) {
      METASTACK_ASSIGN_OR_RETURN(int status, options.password_service->post(*password.to_post));
      if (status == 409)
        say("password: " + options.password_service->where + " had one posted already (409)");
      else if (status != 200)
        return std::unexpected(MakeError(
            ErrorCode::kUnavailable,
            "password: the service answered the POST with status " + std::to_string(status)));
    }
  }
  if (host && options.root == "/") {
    say("set the running host name to " + host->short_name);
    if (!options.dry_run && sethostname(host->short_name.data(), host->short_name.size()) != 0)
      return std::unexpected(
          MakeError(ErrorCode::kUnavailable, std::string("sethostname: ") + std::strerror(errno)));
  }
  std::vector<Write> last;  // the script's status and the state file, after everything else
  if (IsScript(data.user_data)) {
    if (!options.run_user_data) {
      say("user data is a script; not run (--no-user-data-scripts)");
    } else {
      say("run " + state + "/user-data.script");
      if (!options.dry_run) {
        METASTACK_ASSIGN_OR_RETURN(std::string script, fs.Resolve(state + "/user-data.script"));
        int status = RunScript(script, options.root);
        result.user_data_exit = status;
        say("user data script exited with status " + std::to_string(status));
        last.push_back({state + "/user-data.status", std::to_string(status) + "\n", 0600});
      }
    }
  }
  say("write " + state + "/instance-id (" + data.instance_id + ")");
  last.push_back({state + "/instance-id", data.instance_id + "\n", 0644, 0, 0, 0700});
  if (!options.dry_run) METASTACK_RETURN_IF_ERROR(fs.WriteFiles(last));
  return result;
}

}  // namespace metastack::guest
