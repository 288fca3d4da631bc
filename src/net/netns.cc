#include "net/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <thread>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

namespace metastack::net {
namespace {

std::string PathOf(std::string_view name) {
  return std::string(kNetnsDir) + "/" + std::string(name);
}

Error OsError(ErrorCode code, std::string what, int err) {
  return MakeError(code, std::move(what) + ": " + ::strerror(err));
}

// Makes /run/netns a shared mount point, as ip(8) does, so that a namespace unmounted in one
// mount namespace disappears from the others too (and is freed sooner).
Status PrepareNetnsDir() {
  const std::string dir(kNetnsDir);
  if (::mkdir("/run", 0755) != 0 && errno != EEXIST)
    return std::unexpected(OsError(ErrorCode::kUnavailable, "mkdir /run", errno));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return std::unexpected(OsError(ErrorCode::kUnavailable, "mkdir " + dir, errno));
  bool made_mount = false;
  while (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || made_mount)
      return std::unexpected(OsError(ErrorCode::kUnavailable, "mount --make-shared " + dir, errno));
    // Not a mount point yet: bind it onto itself, then retry.
    if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
      return std::unexpected(OsError(ErrorCode::kUnavailable, "mount --bind " + dir, errno));
    made_mount = true;
  }
  return Ok();
}

Result<std::pair<sockaddr_storage, socklen_t>> ParseAddress(std::string_view address,
                                                            uint16_t port) {
  std::string text(address);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return std::pair{ss, static_cast<socklen_t>(sizeof(sockaddr_in))};
  }
  // "fe80::a9fe:a9fe%tap0": a link-local address is bound on one interface, named by its zone
  // (resolved here, in the namespace the caller runs in).
  std::string zone;
  if (size_t percent = text.find('%'); percent != std::string::npos) {
    zone = text.substr(percent + 1);
    text.resize(percent);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    if (!zone.empty()) {
      v6->sin6_scope_id = ::if_nametoindex(zone.c_str());
      if (v6->sin6_scope_id == 0)
        return std::unexpected(MakeError(ErrorCode::kNotFound,
                                         "no interface " + zone + " for " + std::string(address)));
    }
    return std::pair{ss, static_cast<socklen_t>(sizeof(sockaddr_in6))};
  }
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument, "not an IP address: " + std::string(address)));
}

Result<int> BindHere(std::string_view address, uint16_t port, const ListenOptions& options) {
  METASTACK_ASSIGN_OR_RETURN(auto parsed, ParseAddress(address, port));
  auto& [ss, len] = parsed;
  const bool v6 = ss.ss_family == AF_INET6;
  char host[INET6_ADDRSTRLEN] = "";
  const void* raw =
      v6 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr)
         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(ss).sin_addr);
  ::inet_ntop(ss.ss_family, raw, host, sizeof host);
  const size_t percent = address.find('%');
  std::string zone = percent == std::string_view::npos ? "" : std::string(address.substr(percent));
  if (zone.ends_with("]")) zone.pop_back();
  const std::string shown =
      (v6 ? "[" + std::string(host) + zone + "]" : std::string(host)) + ":" + std::to_string(port);
  int type = SOCK_STREAM | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
  int fd = ::socket(ss.ss_family, type, 0);
  if (fd < 0) return std::unexpected(OsError(ErrorCode::kUnavailable, "socket", errno));
  auto fail = [&](std::string what) {
    Error e = OsError(ErrorCode::kUnavailable, std::move(what) + " " + shown, errno);
    ::close(fd);
    return std::unexpected(std::move(e));
  };
  int on = 1, off = 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return fail("SO_REUSEADDR");
  // FREEBIND: a proxy may open its 169.254.169.254 listener before dhcp-setup has added the
  // address, and keeps it while the address or its interface comes and goes.
  if (v6) {
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &on, sizeof on) != 0)
      return fail("IPV6_FREEBIND");
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    const int* v6only = IN6_IS_ADDR_UNSPECIFIED(&a6) ? &off : &on;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only, sizeof(int)) != 0)
      return fail("IPV6_V6ONLY");
  } else if (::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &on, sizeof on) != 0) {
    return fail("IP_FREEBIND");
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) return fail("bind");
  if (::listen(fd, options.backlog) != 0) return fail("listen");
  return fd;
}

}  // namespace

Status ValidateNamespaceName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name != "." && name != ".." &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || c == '.';
            });
  if (ok) return Ok();
  return std::unexpected(MakeError(
      ErrorCode::kInvalidArgument,
      "not a valid namespace name (1-64 of A-Z a-z 0-9 _ . -): \"" + std::string(name) + "\""));
}

Result<std::vector<std::string>> ListNamespaces() {
  std::vector<std::string> names;
  const std::string dir(kNetnsDir);
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return names;
    return std::unexpected(OsError(ErrorCode::kUnavailable, dir, errno));
  }
  while (const dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool NamespaceExists(std::string_view name) {
  if (!ValidateNamespaceName(name)) return false;
  struct stat st;
  return ::stat(PathOf(name).c_str(), &st) == 0;
}

Result<int> OpenNamespace(std::string_view name) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(name));
  int fd = ::open(PathOf(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno == ENOENT)
    return std::unexpected(
        MakeError(ErrorCode::kNotFound, "netns " + std::string(name) + ": no such namespace"));
  return std::unexpected(OsError(ErrorCode::kUnavailable, "netns " + std::string(name), errno));
}

Status CreateNamespace(std::string_view name) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(name));
  METASTACK_RETURN_IF_ERROR(PrepareNetnsDir());
  const std::string path = PathOf(name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EEXIST)
      return std::unexpected(
          MakeError(ErrorCode::kConflict, "netns " + std::string(name) + ": already exists"));
    return std::unexpected(OsError(ErrorCode::kUnavailable, "create " + path, errno));
  }
  ::close(fd);
  // unshare() moves only the calling thread into the new namespace, so it happens on a thread
  // that ends right after the bind mount has pinned the namespace.
  Status made = Ok();
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      made = std::unexpected(OsError(ErrorCode::kUnavailable, "unshare(CLONE_NEWNET)", errno));
    } else if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      made = std::unexpected(OsError(ErrorCode::kUnavailable, "mount --bind " + path, errno));
    }
  }).join();
  if (!made) ::unlink(path.c_str());
  return made;
}

Status DeleteNamespace(std::string_view name) {
  METASTACK_RETURN_IF_ERROR(ValidateNamespaceName(name));
  const std::string path = PathOf(name);
  // MNT_DETACH: processes still inside keep the namespace; only the name goes.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    if (errno == ENOENT)
      return std::unexpected(
          MakeError(ErrorCode::kNotFound, "netns " + std::string(name) + ": no such namespace"));
    return std::unexpected(OsError(ErrorCode::kUnavailable, "umount " + path, errno));
  }
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT)
      return std::unexpected(
          MakeError(ErrorCode::kNotFound, "netns " + std::string(name) + ": no such namespace"));
    return std::unexpected(OsError(ErrorCode::kUnavailable, "unlink " + path, errno));
  }
  return Ok();
}

namespace detail {

Status RunOnNamespaceThread(std::string_view name, const std::function<void()>& body) {
  METASTACK_ASSIGN_OR_RETURN(int fd, OpenNamespace(name));
  Status status = Ok();
  // The thread ends inside the namespace: there is nothing to switch back, and the caller's
  // thread never left its own.
  std::thread([&] {
    if (::setns(fd, CLONE_NEWNET) != 0) {
      status = std::unexpected(
          OsError(ErrorCode::kUnavailable, "netns " + std::string(name) + ": cannot enter", errno));
      return;
    }
    try {
      body();
    } catch (const std::exception& e) {
      status = std::unexpected(
          MakeError(ErrorCode::kInternal, "netns " + std::string(name) + ": " + e.what()));
    }
  }).join();
  ::close(fd);
  return status;
}

}  // namespace detail

Result<int> BindTcpInNamespace(std::string_view ns, std::string_view address, uint16_t port,
                               const ListenOptions& options) {
  return RunInNamespace(ns, [&]() -> Result<int> {
    auto fd = BindHere(address, port, options);
    if (!fd && !ns.empty())
      fd.error().message = "netns " + std::string(ns) + ": " + fd.error().message;
    return fd;
  });
}

}  // namespace metastack::net
