#pragma once
// Named network namespaces, the way `ip netns` keeps them: /run/netns/NAME is a bind mount of a
// namespace file, so it outlives every process in it. A name refers to the same namespace for
// `ip netns exec NAME`, `ip -n NAME` and the functions here.
//
// Namespace membership is per thread (setns(2) changes only the calling thread), so everything
// that must happen "inside" a namespace runs on a short-lived thread of its own that enters the
// namespace and then ends: the caller's thread never changes namespace, whatever fn does.
// A socket keeps the namespace it was created in for its whole life, which is what lets one
// process hold listeners in many namespaces (BindTcpInNamespace).
//
// All functions are blocking (they spawn and join a thread, or mount) and thread-safe.
// Creating and deleting need CAP_SYS_ADMIN; entering needs CAP_SYS_ADMIN too.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/error.h"

namespace metastack::net {

inline constexpr std::string_view kNetnsDir = "/run/netns";

// 1-64 characters from [A-Za-z0-9_.-], not "." or "..": stricter than ip(8), so a name is
// always safe as a path component, a file name and an argument.
Status ValidateNamespaceName(std::string_view name);

// The names under /run/netns, sorted; empty when the directory does not exist.
Result<std::vector<std::string>> ListNamespaces();

bool NamespaceExists(std::string_view name);

// Creates a new, empty network namespace (only "lo", down) named `name`, like
// `ip netns add`. kConflict if the name is taken.
Status CreateNamespace(std::string_view name);

// Unmounts and removes /run/netns/NAME, like `ip netns delete`; the namespace itself goes
// away when its last process and socket do. kNotFound if there is no such name.
Status DeleteNamespace(std::string_view name);

// Opens /run/netns/NAME (O_RDONLY | O_CLOEXEC); the caller owns the descriptor.
// kNotFound when there is no such namespace.
Result<int> OpenNamespace(std::string_view name);

namespace detail {
// Runs body on a new thread that has entered the namespace, and joins it. An exception
// escaping body becomes a kInternal error.
Status RunOnNamespaceThread(std::string_view name, const std::function<void()>& body);
}  // namespace detail

// Runs fn() inside the named namespace and returns what it returns. fn must return a Result<T>
// or a Status; failing to enter the namespace returns that error instead. An empty name runs
// fn on the calling thread, in the caller's own namespace.
template <typename F>
auto RunInNamespace(std::string_view name, F&& fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  if (name.empty()) return fn();
  std::optional<R> out;
  Status entered = detail::RunOnNamespaceThread(name, [&] { out.emplace(fn()); });
  if (!entered) return std::unexpected(std::move(entered).error());
  return std::move(*out);
}

struct ListenOptions {
  int backlog = 1024;
  bool nonblocking = false;  // set O_NONBLOCK on the returned socket
};

// Creates a TCP socket inside namespace `ns` (empty: the caller's), binds it to
// address:port and listens. The caller owns the returned descriptor (close-on-exec).
// SO_REUSEADDR and IP_FREEBIND are set, so 169.254.169.254 can be bound before (or without)
// the address being configured. Address "::" accepts IPv4 too (IPV6_V6ONLY off), as the
// router namespace's proxy does; "0.0.0.0" is IPv4 only. Port 0 picks a free port
// (getsockname tells which).
Result<int> BindTcpInNamespace(std::string_view ns, std::string_view address, uint16_t port,
                               const ListenOptions& options = {});

}  // namespace metastack::net
