#pragma once
// Running external programs (ip, iptables-restore, dnsmasq ...) without a shell.
//
// RunCommand forks and execs argv directly: arguments are never re-parsed, so an interface or
// namespace name cannot inject anything. Standard output and error are captured in full; the
// child gets `stdin_data` on its standard input (or /dev/null). A child that outlives `timeout`
// is killed (with its process group). With `netns` set, the child enters that named network
// namespace (setns(2) between fork and exec) before running the program. Unlike
// `ip netns exec`, /sys is not remounted and /etc/netns/NAME is not bound over /etc: ip,
// iptables and dnsmasq need neither (they use netlink and /proc/self/net).
//
// Blocking: call from a worker thread, never from an io_context. Thread-safe (no shared state;
// file descriptors are close-on-exec so concurrent calls do not leak pipes into each other).

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace metastack::net {

struct Command {
  std::vector<std::string> argv{};  // argv[0] is looked up in $PATH unless it contains '/'
  std::string netns{};              // a name under /run/netns; empty: the caller's namespace
  std::string stdin_data{};
  std::chrono::milliseconds timeout{10'000};
};

struct CommandOutput {
  int exit_code = 0;  // the exit status, or 128 + signal number when a signal ended it
  std::string out;
  std::string err;
};

// Runs the command to completion. A program that runs and fails is NOT an error here (look at
// exit_code); errors are: argv empty or program not found (kNotFound: "NAME: command not found"),
// exec or namespace failure (kUnavailable), timeout (kTimeout: "CMD: timed out after 500 ms").
Result<CommandOutput> RunCommand(const Command& command);

// Like RunCommand, and a non-zero exit is an error too (kInternal) whose message is
// "CMD: exit status N: <stderr, trailing newline removed>" (or stdout when stderr is empty).
// Returns standard output.
Result<std::string> RunChecked(const Command& command);

// The command line as shown in error messages: arguments joined by spaces, those containing
// spaces or quotes single-quoted ("sh -c 'exit 3'").
std::string FormatCommandLine(const std::vector<std::string>& argv);

// The full path of an executable found in $PATH (or the default system path when $PATH is
// unset), or the argument itself when it contains '/' and is executable. kNotFound otherwise.
Result<std::string> FindExecutable(std::string_view name);

}  // namespace metastack::net
