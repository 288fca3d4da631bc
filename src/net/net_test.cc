// Namespaces and the command runner, against the real kernel (root only; skipped otherwise).
#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "net/command.h"
#include "net/iptables.h"
#include "net/netns.h"
#include "net/test_namespace.h"

namespace metastack::net {
namespace {

using std::chrono::milliseconds;

// ---- command runner ----

TEST(CommandTest, FormatsCommandLinesForMessages) {
  EXPECT_EQ(FormatCommandLine({"ip", "-n", "r1", "addr"}), "ip -n r1 addr");
  EXPECT_EQ(FormatCommandLine({"sh", "-c", "exit 3", ""}), "sh -c 'exit 3' ''");
  EXPECT_EQ(FormatCommandLine({"echo", "it's"}), "echo 'it'\\''s'");
}

TEST(CommandTest, CapturesOutputErrorAndExitCode) {
  auto r = RunCommand({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(CommandTest, SignalDeathIs128PlusSignal) {
  auto r = RunCommand({.argv = {"sh", "-c", "kill -9 $$"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 137);
}

TEST(CommandTest, FailureMessagesAreVerbatim) {
  auto r = RunChecked({.argv = {"sh", "-c", "echo broke >&2; exit 3"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  EXPECT_EQ(r.error().message, "sh -c 'echo broke >&2; exit 3': exit status 3: broke");

  r = RunChecked({.argv = {"ls", "/nonexistent/metastack"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "ls /nonexistent/metastack: exit status 2: ls: cannot access "
            "'/nonexistent/metastack': No such file or directory");

  r = RunChecked({.argv = {"sh", "-c", "echo only-stdout; exit 1"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "sh -c 'echo only-stdout; exit 1': exit status 1: only-stdout");

  r = RunChecked({.argv = {"false"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "false: exit status 1");
}

TEST(CommandTest, MissingProgramIsNotFound) {
  auto r = RunCommand({.argv = {"metastack-no-such-program", "x"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "metastack-no-such-program: command not found");
  r = RunCommand({.argv = {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "empty command line");
}

TEST(CommandTest, TimeoutKillsTheChild) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({.argv = {"sleep", "10"}, .timeout = milliseconds(200)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(r.error().message, "sleep 10: timed out after 200 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

TEST(CommandTest, FeedsLargeInputWhileReadingOutput) {
  std::string input(1 << 20, 'x');
  for (size_t i = 0; i < input.size(); i += 100) input[i] = '\n';
  auto r = RunCommand({.argv = {"cat"}, .stdin_data = input});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out.size(), input.size());
  EXPECT_EQ(r->out, input);
}

TEST(CommandTest, ReturnsWhenTheChildExitsEvenIfADaemonKeepsItsPipes) {
  // A daemonizing program (dnsmasq) leaves a grandchild holding stdout: we must not wait for it.
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({.argv = {"sh", "-c", "sleep 3 & echo started"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out, "started\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
}

// ---- namespaces ----

ino_t InodeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(NetnsTest, ValidatesNames) {
  EXPECT_TRUE(ValidateNamespaceName("qrouter-1f2e.x_y"));
  for (const char* bad : {"", ".", "..", "a/b", "a b", "-\n"}) {
    auto st = ValidateNamespaceName(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().message, std::string("not a valid namespace name (1-64 of A-Z a-z 0-9 "
                                              "_ . -): \"") +
                                      bad + "\"");
  }
}

TEST(NetnsTest, CreateListDelete) {
  METASTACK_NEED_ROOT();
  std::string name;
  {
    TestNamespace ns("life");
    name = ns.name();
    EXPECT_TRUE(NamespaceExists(name));
    auto names = ListNamespaces();
    ASSERT_TRUE(names);
    EXPECT_NE(std::find(names->begin(), names->end(), name), names->end());
    auto again = CreateNamespace(name);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kConflict);
    EXPECT_EQ(again.error().message, "netns " + name + ": already exists");
    // `ip netns` sees the same namespace.
    auto ip = RunChecked({.argv = {"ip", "netns", "list"}});
    ASSERT_TRUE(ip) << ip.error().ToString();
    EXPECT_NE(ip->find(name), std::string::npos);
    ASSERT_TRUE(DeleteNamespace(name));
  }
  EXPECT_FALSE(NamespaceExists(name));
  auto gone = DeleteNamespace(name);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().message, "netns " + name + ": no such namespace");
}

TEST(NetnsTest, RunInNamespaceUsesAThreadAndLeavesTheCallerAlone) {
  METASTACK_NEED_ROOT();
  TestNamespace ns;
  const ino_t mine = InodeOf("/proc/thread-self/ns/net");
  const ino_t theirs = InodeOf(std::string(kNetnsDir) + "/" + ns.name());
  ASSERT_NE(mine, theirs);
  Result<ino_t> inside =
      RunInNamespace(ns.name(), [] { return Result<ino_t>(InodeOf("/proc/thread-self/ns/net")); });
  ASSERT_TRUE(inside) << inside.error().ToString();
  EXPECT_EQ(*inside, theirs);
  EXPECT_EQ(InodeOf("/proc/thread-self/ns/net"), mine);

  Status failed = RunInNamespace(ns.name(), []() -> Status {
    return std::unexpected(MakeError(ErrorCode::kConflict, "from inside"));
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "from inside");

  Status missing = RunInNamespace("mst-no-such-ns", [] { return Ok(); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "netns mst-no-such-ns: no such namespace");
}

TEST(NetnsTest, CommandRunsInsideTheNamespace) {
  METASTACK_NEED_ROOT();
  TestNamespace ns;
  auto r = RunChecked({.argv = {"readlink", "/proc/self/ns/net"}, .netns = ns.name()});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(*r,
            "net:[" + std::to_string(InodeOf(std::string(kNetnsDir) + "/" + ns.name())) + "]\n");
  auto links = RunChecked({.argv = {"ip", "-o", "link"}, .netns = ns.name()});
  ASSERT_TRUE(links) << links.error().ToString();
  EXPECT_EQ(std::count(links->begin(), links->end(), '\n'), 1) << *links;  // only lo
}

// Connects to 127.0.0.1:port from the calling thread; returns 0 or errno.
int ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

uint16_t PortOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(ss).sin_port
                                       : reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
}

TEST(NetnsTest, ListenerReachableInsideItsNamespaceOnly) {
  METASTACK_NEED_ROOT();
  TestNamespace ns("bind");
  ASSERT_TRUE(RunChecked({.argv = {"ip", "link", "set", "lo", "up"}, .netns = ns.name()}));
  // Reserve a port in the root namespace without listening on it: connecting there is then
  // refused for certain, whatever else runs on this host.
  int reserved = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(reserved, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  const uint16_t port = PortOf(reserved);

  for (const char* address : {"127.0.0.1", "::"}) {
    SCOPED_TRACE(address);
    auto fd = BindTcpInNamespace(ns.name(), address, port);
    ASSERT_TRUE(fd) << fd.error().ToString();
    EXPECT_EQ(PortOf(*fd), port);
    Result<int> inside =
        RunInNamespace(ns.name(), [&] { return Result<int>(ConnectLoopback(port)); });
    ASSERT_TRUE(inside);
    EXPECT_EQ(*inside, 0);  // "::" accepts IPv4 too (v6only off)
    EXPECT_EQ(ConnectLoopback(port), ECONNREFUSED);
    ::close(*fd);
  }
  ::close(reserved);
}

TEST(NetnsTest, FreebindAllowsTheMetadataAddressBeforeItExists) {
  METASTACK_NEED_ROOT();
  TestNamespace ns;
  auto fd = BindTcpInNamespace(ns.name(), "169.254.169.254", 0, {.nonblocking = true});
  ASSERT_TRUE(fd) << fd.error().ToString();
  ::close(*fd);
}

// The DHCP namespace's IPv6 listener: a link-local address bound on one interface, named by
// its zone inside the namespace, before the address is there (FREEBIND).
TEST(NetnsTest, LinkLocalAddressWithAZoneBindsOnThatInterface) {
  METASTACK_NEED_ROOT();
  if (!KernelHasIpv6()) GTEST_SKIP() << "the kernel has no IPv6";
  TestNamespace ns;
  ASSERT_TRUE(
      RunChecked({.argv = {"ip", "link", "add", "tap0", "type", "veth", "peer", "name", "tap0p"},
                  .netns = ns.name()}));
  auto fd = BindTcpInNamespace(ns.name(), "fe80::a9fe:a9fe%tap0", 0, {.nonblocking = true});
  ASSERT_TRUE(fd) << fd.error().ToString();
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(*fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  auto index = RunInNamespace(ns.name(), [] { return Result<int>(::if_nametoindex("tap0")); });
  ASSERT_TRUE(index);
  EXPECT_EQ(static_cast<int>(sa.sin6_scope_id), *index);
  ::close(*fd);
  auto none = BindTcpInNamespace(ns.name(), "fe80::a9fe:a9fe%tap9", 80);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "netns " + ns.name() + ": no interface tap9 for fe80::a9fe:a9fe%tap9");
}

TEST(NetnsTest, BindErrors) {
  METASTACK_NEED_ROOT();
  TestNamespace ns;
  auto fd = BindTcpInNamespace(ns.name(), "nope", 80);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().message, "netns " + ns.name() + ": not an IP address: nope");
  auto first = BindTcpInNamespace(ns.name(), "0.0.0.0", 0);
  ASSERT_TRUE(first);
  const uint16_t port = PortOf(*first);
  fd = BindTcpInNamespace(ns.name(), "0.0.0.0", port);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().message, "netns " + ns.name() + ": bind 0.0.0.0:" + std::to_string(port) +
                                    ": Address already in use");
  ::close(*first);
  fd = BindTcpInNamespace("mst-no-such-ns", "::", 9697);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(fd.error().message, "netns mst-no-such-ns: no such namespace");
}

}  // namespace
}  // namespace metastack::net
