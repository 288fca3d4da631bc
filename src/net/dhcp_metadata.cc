#include "net/dhcp_metadata.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "base/file.h"
#include "net/command.h"
#include "net/netns.h"
#include "net/router_metadata.h"

namespace metastack::net {
namespace {

const std::string kMetadataCidr = std::string(kMetadataAddress) + "/32";
// As Neutron's DHCP agent puts it on the DHCP port (constants.METADATA_V6_CIDR).
const std::string kMetadataCidrV6 = std::string(kMetadataAddressV6) + "/64";

const std::string& CidrOf(IpFamily family) {
  return family == IpFamily::kV6 ? kMetadataCidrV6 : kMetadataCidr;
}

Error OsError(std::string what, int err) {
  return MakeError(ErrorCode::kUnavailable, std::move(what) + ": " + ::strerror(err));
}

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(OsError(tmp, errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = OsError(tmp, errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return std::unexpected(std::move(e));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = OsError("rename " + tmp, errno);
    ::unlink(tmp.c_str());
    return std::unexpected(std::move(e));
  }
  return Ok();
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return std::unexpected(OsError("unlink " + path, errno));
  return Ok();
}

Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    std::string part = path.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      return std::unexpected(OsError("mkdir " + part, errno));
  }
  return Ok();
}

// dnsmasq drops root for "nobody" once started, and re-reads the hosts and opts files as that
// user on SIGHUP: every directory above them must be searchable by others, or the SIGHUP of a
// repeated setup would silently leave dnsmasq with no hosts.
Status NeedSearchableByOthers(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    struct stat st;
    if (::stat(part.c_str(), &st) != 0) continue;  // created below with 0755
    if (!(st.st_mode & S_IXOTH))
      return std::unexpected(MakeError(
          ErrorCode::kInvalidArgument,
          part + " is not searchable by others (dnsmasq runs as nobody and reads its files there)",
          "state_dir"));
  }
  return Ok();
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// ---- the state record: "key=value" lines ----

std::string StateDir(std::string_view state_dir, std::string_view netns) {
  return std::string(state_dir) + "/" + std::string(netns);
}

Status SaveState(const DhcpMetadataState& s) {
  std::string text = "netns=" + s.netns + "\ninterface=" + s.subnet.interface +
                     "\ndhcp_ip=" + s.subnet.dhcp_ip + "\nsubnet=" + s.subnet.subnet +
                     "\ngateway=" + s.subnet.gateway +
                     "\naddress_added=" + (s.address_added ? "1" : "0") +
                     "\naddress6_added=" + (s.address6_added ? "1" : "0") +
                     "\nconf_file=" + s.conf_file + "\ndnsmasq=" + (s.dnsmasq ? "1" : "0") + "\n";
  return WriteFileAtomic(s.dir + "/state", text);
}

Result<std::optional<DhcpMetadataState>> LoadState(std::string_view state_dir,
                                                   std::string_view netns) {
  const std::string dir = StateDir(state_dir, netns);
  struct stat st;
  if (::stat((dir + "/state").c_str(), &st) != 0 && errno == ENOENT) return std::nullopt;
  METASTACK_ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/state"));
  std::map<std::string, std::string> kv;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (size_t eq = line.find('='); eq != std::string::npos)
      kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  DhcpMetadataState s;
  s.netns = std::string(netns);
  s.subnet = {kv["interface"], kv["dhcp_ip"], kv["subnet"], kv["gateway"]};
  s.address_added = kv["address_added"] == "1";
  s.address6_added = kv["address6_added"] == "1";
  s.conf_file = kv["conf_file"];
  s.dnsmasq = kv["dnsmasq"] == "1";
  s.dir = dir;
  return s;
}

// ---- the dnsmasq we started ----

// The pid in the pid file if that process is alive and is the dnsmasq using that pid file.
int LiveDnsmasq(const DnsmasqFiles& files) {
  auto text = ReadFile(files.pid);
  if (!text) return 0;
  int pid = std::atoi(text->c_str());
  if (pid <= 0) return 0;
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline) return 0;
  const std::string marker = std::string("--pid-file=") + files.pid + '\0';
  return cmdline->find(marker) != std::string::npos ? pid : 0;
}

std::vector<std::string> CmdlineOf(int pid) {
  std::vector<std::string> argv;
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!text) return argv;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\0', start);
    if (end == std::string::npos) end = text->size();
    argv.push_back(text->substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

bool WaitExit(int pidfd, int ms) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}

Status StopDnsmasq(const DnsmasqFiles& files) {
  int pid = LiveDnsmasq(files);
  if (pid == 0) return Ok();
  // Through a pidfd, re-checked after opening: the signal cannot reach a recycled pid.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return errno == ESRCH ? Ok() : std::unexpected(OsError("pidfd_open", errno));
  Status st = Ok();
  if (LiveDnsmasq(files) == pid) {
    ::syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, nullptr, 0);
    if (!WaitExit(pidfd, 5000)) {
      ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      if (!WaitExit(pidfd, 2000))
        st = std::unexpected(
            MakeError(ErrorCode::kTimeout, "dnsmasq pid " + std::to_string(pid) + " did not exit"));
    }
  }
  ::close(pidfd);
  if (st) RemoveFile(files.pid);
  return st;
}

Result<int> StartDnsmasq(const DhcpMetadataSetup& setup, const DnsmasqFiles& files) {
  const auto argv = DnsmasqCommandLine(setup.subnet, setup.dnsmasq, files);
  METASTACK_RETURN_IF_ERROR(WriteFileAtomic(files.hosts, [&] {
    std::string out;
    for (const auto& h : setup.dnsmasq.hosts) out += HostLine(h) + "\n";
    return out;
  }()));
  METASTACK_RETURN_IF_ERROR(WriteFileAtomic(
      files.opts, Join(MetadataOptionLines(setup.subnet, SubnetTag(setup.subnet)))));
  if (int pid = LiveDnsmasq(files); pid != 0) {
    if (CmdlineOf(pid) == argv) {
      // Same flags: SIGHUP re-reads the hosts and opts files (and keeps the leases).
      if (::kill(pid, SIGHUP) != 0) return std::unexpected(OsError("kill -HUP dnsmasq", errno));
      return pid;
    }
    METASTACK_RETURN_IF_ERROR(StopDnsmasq(files));
  }
  // dnsmasq forks; its parent exits once the daemon has bound its sockets and written the pid
  // file, with the daemon's startup error (if any) on standard error.
  METASTACK_ASSIGN_OR_RETURN(std::string out, RunChecked({.argv = argv, .netns = setup.netns}));
  (void)out;
  int pid = LiveDnsmasq(files);
  if (pid == 0)
    return std::unexpected(
        MakeError(ErrorCode::kUnavailable, "dnsmasq started but is not running; see " + files.log));
  return pid;
}

// "inet 10.60.0.2/24 ..." addresses of an interface, from `ip -o -4 addr show dev IF`; ip's
// error naming the interface when it does not exist.
Result<std::vector<std::string>> Ipv4Addresses(std::string_view netns, std::string_view interface) {
  METASTACK_ASSIGN_OR_RETURN(
      std::string text,
      RunChecked({.argv = {"ip", "-o", "-4", "addr", "show", "dev", std::string(interface)},
                  .netns = std::string(netns)}));
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = text.find(" inet ", pos)) != std::string::npos) {
    pos += 6;
    out.push_back(text.substr(pos, text.find(' ', pos) - pos));
  }
  return out;
}

}  // namespace

std::string ConfDirFileName(std::string_view netns) {
  return "metastack-" + std::string(netns) + ".conf";
}

std::vector<std::string> ConfDirLines(const DhcpSubnet& subnet) {
  std::vector<std::string> lines;
  for (auto& l : MetadataOptionLines(subnet, subnet.interface)) lines.push_back("dhcp-option=" + l);
  return lines;
}

Result<std::vector<InterfaceAddress>> ListAddresses(std::string_view netns, IpFamily family) {
  const bool v6 = family == IpFamily::kV6;
  METASTACK_ASSIGN_OR_RETURN(std::string text,
                             RunChecked({.argv = {"ip", "-o", v6 ? "-6" : "-4", "addr", "show"},
                                         .netns = std::string(netns)}));
  std::vector<InterfaceAddress> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    // "2: eth0    inet 10.0.0.2/24 brd ... scope global eth0\ ..."
    std::istringstream fields(line);
    std::string index, name, kind, cidr;
    if (!(fields >> index >> name >> kind >> cidr) || kind != (v6 ? "inet6" : "inet")) continue;
    out.push_back({name.substr(0, name.find('@')), cidr});
  }
  return out;
}

Result<std::vector<InterfaceAddress>> ListIpv4Addresses(std::string_view netns) {
  return ListAddresses(netns, IpFamily::kV4);
}

Result<DhcpSubnet> ChooseDhcpPort(const std::vector<InterfaceAddress>& addresses,
                                  std::string_view prefix, std::string_view netns) {
  std::vector<const InterfaceAddress*> found;
  for (const auto& a : addresses) {
    if (a.interface == "lo" || a.cidr == kMetadataCidr || !a.interface.starts_with(prefix))
      continue;
    if (std::none_of(found.begin(), found.end(),
                     [&](const auto* f) { return f->interface == a.interface; }))
      found.push_back(&a);
  }
  if (found.empty())
    return std::unexpected(MakeError(
        ErrorCode::kNotFound,
        "netns " + std::string(netns) + ": no interface " +
            (prefix.empty() ? std::string("other than lo") : "named " + std::string(prefix) + "*") +
            " has an IPv4 address (the DHCP port's)"));
  if (found.size() > 1)
    return std::unexpected(
        MakeError(ErrorCode::kConflict, "netns " + std::string(netns) + ": " + found[0]->interface +
                                            " and " + found[1]->interface +
                                            " both have IPv4 addresses; which is the DHCP "
                                            "port's? (set the interface prefix)"));
  const std::string& cidr = found[0]->cidr;
  size_t slash = cidr.find('/');
  METASTACK_ASSIGN_OR_RETURN(Ipv4Net net, ParseIpv4Net(cidr));
  return DhcpSubnet{found[0]->interface, cidr.substr(0, slash),
                    FormatIpv4(net.address) + "/" + std::to_string(net.prefix), ""};
}

// Lists every interface's addresses, so that a missing interface is an answer (false: its port
// went, and the address with it) rather than `ip`'s error.
Result<bool> HasMetadataAddress(std::string_view netns, std::string_view interface,
                                IpFamily family) {
  METASTACK_ASSIGN_OR_RETURN(auto addresses, ListAddresses(netns, family));
  return std::any_of(addresses.begin(), addresses.end(), [&](const InterfaceAddress& a) {
    return a.interface == interface && a.cidr == CidrOf(family);
  });
}

Result<bool> AddMetadataAddress(std::string_view netns, std::string_view interface,
                                IpFamily family) {
  METASTACK_ASSIGN_OR_RETURN(bool present, HasMetadataAddress(netns, interface, family));
  if (present) return false;
  std::vector<std::string> argv = {"ip",           "addr", "add",
                                   CidrOf(family), "dev",  std::string(interface)};
  // No duplicate address detection: the address is the same in every DHCP namespace by design,
  // and a tentative address would keep guests waiting.
  if (family == IpFamily::kV6) argv.push_back("nodad");
  METASTACK_ASSIGN_OR_RETURN(std::string out,
                             RunChecked({.argv = std::move(argv), .netns = std::string(netns)}));
  (void)out;
  return true;
}

Status RemoveMetadataAddress(std::string_view netns, std::string_view interface, IpFamily family) {
  METASTACK_ASSIGN_OR_RETURN(bool present, HasMetadataAddress(netns, interface, family));
  if (!present) return Ok();
  METASTACK_ASSIGN_OR_RETURN(
      std::string out,
      RunChecked({.argv = {"ip", "addr", "del", CidrOf(family), "dev", std::string(interface)},
                  .netns = std::string(netns)}));
  (void)out;
  return Ok();
}

Result<DhcpMetadataState> SetupDhcpMetadata(const DhcpMetadataSetup& setup) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(setup.netns));
  METASTACK_RETURN_IF_ERROR(ValidateDhcpSubnet(setup.subnet));
  if (setup.start_dnsmasq) {
    METASTACK_RETURN_IF_ERROR(ValidateDnsmasqSettings(setup.subnet, setup.dnsmasq));
    METASTACK_RETURN_IF_ERROR(NeedSearchableByOthers(StateDir(setup.state_dir, setup.netns)));
  }
  struct stat st;
  if (!setup.conf_dir.empty() && (::stat(setup.conf_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    return std::unexpected(
        MakeError(ErrorCode::kNotFound, setup.conf_dir + ": not a directory", "conf_dir"));
  if (!NamespaceExists(setup.netns))
    return std::unexpected(
        MakeError(ErrorCode::kNotFound, "netns " + setup.netns + ": no such namespace"));
  METASTACK_ASSIGN_OR_RETURN(auto previous, LoadState(setup.state_dir, setup.netns));

  // The metadata route points guests at dhcp_ip: without it on the interface they would
  // get a route to nowhere, so refuse rather than install half a path.
  METASTACK_ASSIGN_OR_RETURN(auto addrs, Ipv4Addresses(setup.netns, setup.subnet.interface));
  const std::string want = setup.subnet.dhcp_ip + "/";
  if (std::none_of(addrs.begin(), addrs.end(), [&](const auto& a) { return a.starts_with(want); }))
    return std::unexpected(MakeError(ErrorCode::kNotFound,
                                     setup.subnet.interface + " in netns " + setup.netns +
                                         " does not have address " + setup.subnet.dhcp_ip,
                                     "dhcp_ip"));

  DhcpMetadataState state;
  state.netns = setup.netns;
  state.subnet = setup.subnet;
  state.dir = StateDir(setup.state_dir, setup.netns);
  METASTACK_RETURN_IF_ERROR(MakeDirs(state.dir));
  const DnsmasqFiles files = DnsmasqFiles::In(state.dir);

  const bool moved = previous && previous->subnet.interface != setup.subnet.interface;
  if (moved && previous->address_added)
    (void)RemoveMetadataAddress(setup.netns, previous->subnet.interface, IpFamily::kV4);
  if (moved && previous->address6_added)
    (void)RemoveMetadataAddress(setup.netns, previous->subnet.interface, IpFamily::kV6);
  METASTACK_ASSIGN_OR_RETURN(
      bool added, AddMetadataAddress(setup.netns, setup.subnet.interface, IpFamily::kV4));
  state.address_added = added || (previous && !moved && previous->address_added);
  if (KernelHasIpv6()) {
    // Recorded first: a failure below leaves the IPv4 part to tear down.
    METASTACK_RETURN_IF_ERROR(SaveState(state));
    METASTACK_ASSIGN_OR_RETURN(
        bool added6, AddMetadataAddress(setup.netns, setup.subnet.interface, IpFamily::kV6));
    state.address6_added = added6 || (previous && !moved && previous->address6_added);
  }
  state.conf_file = previous ? previous->conf_file : "";
  state.dnsmasq = previous && previous->dnsmasq;
  // Recorded before each further step, so a failure half-way can still be torn down.
  METASTACK_RETURN_IF_ERROR(SaveState(state));

  const std::string conf_file =
      setup.conf_dir.empty() ? "" : setup.conf_dir + "/" + ConfDirFileName(setup.netns);
  if (!state.conf_file.empty() && state.conf_file != conf_file) {
    METASTACK_RETURN_IF_ERROR(RemoveFile(state.conf_file));
    state.conf_file.clear();
    METASTACK_RETURN_IF_ERROR(SaveState(state));
  }
  if (!conf_file.empty()) {
    state.conf_file = conf_file;
    METASTACK_RETURN_IF_ERROR(SaveState(state));
    METASTACK_RETURN_IF_ERROR(WriteFileAtomic(
        conf_file, "# metastack net dhcp-setup --netns " + setup.netns +
                       "; removed by dhcp-teardown\n" + Join(ConfDirLines(setup.subnet))));
  }

  if (setup.start_dnsmasq) {
    state.dnsmasq = true;
    METASTACK_RETURN_IF_ERROR(SaveState(state));
    METASTACK_ASSIGN_OR_RETURN(state.dnsmasq_pid, StartDnsmasq(setup, files));
  } else if (state.dnsmasq) {
    METASTACK_RETURN_IF_ERROR(StopDnsmasq(files));
    state.dnsmasq = false;
    METASTACK_RETURN_IF_ERROR(SaveState(state));
  }
  return state;
}

Result<std::vector<DhcpMetadataState>> ListDhcpMetadata(std::string_view state_dir,
                                                        std::string_view netns) {
  std::vector<std::string> names;
  if (!netns.empty()) {
    METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(netns));
    names.emplace_back(netns);
  } else if (DIR* d = ::opendir(std::string(state_dir).c_str())) {
    while (const dirent* e = ::readdir(d))
      if (ValidateNamespaceName(e->d_name) && std::string_view(e->d_name) != "." &&
          std::string_view(e->d_name) != "..")
        names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
  } else if (errno != ENOENT) {
    return std::unexpected(OsError(std::string(state_dir), errno));
  }
  std::vector<DhcpMetadataState> out;
  for (const auto& name : names) {
    METASTACK_ASSIGN_OR_RETURN(auto s, LoadState(state_dir, name));
    if (!s) continue;
    if (s->dnsmasq) s->dnsmasq_pid = LiveDnsmasq(DnsmasqFiles::In(s->dir));
    out.push_back(std::move(*s));
  }
  return out;
}

Result<std::optional<DhcpMetadataState>> TeardownDhcpMetadata(std::string_view state_dir,
                                                              std::string_view netns) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(netns));
  METASTACK_ASSIGN_OR_RETURN(auto state, LoadState(state_dir, netns));
  if (!state) return std::nullopt;
  const DnsmasqFiles files = DnsmasqFiles::In(state->dir);
  state->dnsmasq_pid = LiveDnsmasq(files);
  METASTACK_RETURN_IF_ERROR(StopDnsmasq(files));
  if (!state->conf_file.empty()) METASTACK_RETURN_IF_ERROR(RemoveFile(state->conf_file));
  // The interface may have gone with its port; then so have the addresses (nothing to remove).
  if (state->address_added && NamespaceExists(netns))
    METASTACK_RETURN_IF_ERROR(RemoveMetadataAddress(netns, state->subnet.interface, IpFamily::kV4));
  if (state->address6_added && NamespaceExists(netns))
    METASTACK_RETURN_IF_ERROR(RemoveMetadataAddress(netns, state->subnet.interface, IpFamily::kV6));
  for (const auto& f :
       {files.pid, files.hosts, files.opts, files.leases, files.log, state->dir + "/state"})
    METASTACK_RETURN_IF_ERROR(RemoveFile(f));
  if (::rmdir(state->dir.c_str()) != 0 && errno != ENOENT)
    return std::unexpected(OsError("rmdir " + state->dir, errno));
  return state;
}

}  // namespace metastack::net
