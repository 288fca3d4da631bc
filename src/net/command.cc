#include "net/command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "net/netns.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace metastack::net {
namespace {

constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Owns one file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// What the child reports through the close-on-exec pipe when it cannot exec.
struct ChildFailure {
  int stage;  // 1: entering the namespace, 2: exec
  int err;
};

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void ExecChild(int ns_fd, int in_fd, int out_fd, int err_fd, int report_fd,
                            const char* path, char* const* argv) {
  ChildFailure failure{1, 0};
  if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) {
    failure.err = errno;
  } else {
    // Its own process group, so a timeout kills whatever it started too.
    ::setpgid(0, 0);
    // Dispositions set to "ignore" and the signal mask survive exec; a daemon that ignores
    // SIGPIPE or blocks SIGTERM must not hand that to dnsmasq.
    sigset_t all;
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    // Descriptors other code in this process opened without O_CLOEXEC stay out of the child.
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(path, argv);
    failure = {2, errno};
  }
  (void)!::write(report_fd, &failure, sizeof failure);
  ::_exit(127);
}

// Reads what is available without blocking; false once the pipe reached end of file.
bool Drain(int fd, std::string& into) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::unexpected<Error> SystemError(const std::string& line, const char* what) {
  return std::unexpected(
      MakeError(ErrorCode::kUnavailable, line + ": " + what + ": " + ::strerror(errno)));
}

// The child's standard streams and its exec report: each pipe's two ends. The child's ends are
// closed in the parent once it has forked.
struct Pipes {
  Fd in_child, in_parent, out_parent, out_child, err_parent, err_child, report_parent, report_child;
};

Status OpenPipes(Pipes& p, const std::string& line) {
  // Standard input is a socket so that writing to a child that stopped reading returns EPIPE
  // (MSG_NOSIGNAL) instead of raising SIGPIPE in this process.
  int in[2], out[2], err[2], report[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
    return SystemError(line, "socketpair");
  p.in_child.Reset(in[0]), p.in_parent.Reset(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return SystemError(line, "pipe");
  p.out_parent.Reset(out[0]), p.out_child.Reset(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return SystemError(line, "pipe");
  p.err_parent.Reset(err[0]), p.err_child.Reset(err[1]);
  if (::pipe2(report, O_CLOEXEC) != 0) return SystemError(line, "pipe");
  p.report_parent.Reset(report[0]), p.report_child.Reset(report[1]);
  return Ok();
}

// Forks the child and waits until it has exec'd (the report pipe closes) or failed to.
Result<pid_t> Spawn(const Command& command, const std::string& path, const std::string& line,
                    int ns_fd, Pipes& p) {
  std::vector<char*> argv;
  for (const auto& a : command.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return SystemError(line, "fork");
  if (pid == 0)
    ExecChild(ns_fd, p.in_child.get(), p.out_child.get(), p.err_child.get(), p.report_child.get(),
              path.c_str(), argv.data());
  p.in_child.Reset();
  p.out_child.Reset();
  p.err_child.Reset();
  p.report_child.Reset();

  ChildFailure failure{0, 0};
  ssize_t got;
  do got = ::read(p.report_parent.get(), &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof failure)) return pid;
  int status;
  ::waitpid(pid, &status, 0);
  errno = failure.err;
  if (failure.stage == 1)
    return std::unexpected(
        MakeError(ErrorCode::kUnavailable,
                  "netns " + command.netns + ": cannot enter: " + ::strerror(failure.err)));
  return SystemError(line, "cannot execute");
}

void KillAndReap(pid_t pid, int& status) {
  ::kill(-pid, SIGKILL);  // its process group: whatever it started too
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}

// Sends what the child's standard input can take now; closes it once all is sent (EOF for the
// child) or the child stopped reading.
void Feed(Fd& in, std::string_view data, size_t& written) {
  ssize_t w = ::send(in.get(), data.data() + written, data.size() - written, MSG_NOSIGNAL);
  if (w > 0) written += static_cast<size_t>(w);
  if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == data.size()) in.Reset();
}

// Feeds standard input and collects the output until the child exits or the deadline passes.
Result<CommandOutput> Supervise(const Command& command, const std::string& line, pid_t pid,
                                Pipes& p) {
  // pidfd: the child's exit wakes poll(); then the pipes are drained and left behind, so a
  // daemon that keeps them open (dnsmasq's grandchild) cannot hold us until the timeout.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  for (const Fd* fd : {&p.out_parent, &p.err_parent, &p.in_parent})
    ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (command.stdin_data.empty()) p.in_parent.Reset();

  CommandOutput result;
  const auto deadline = std::chrono::steady_clock::now() + command.timeout;
  bool out_open = true, err_open = true;
  int status = 0;
  for (;;) {
    pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid) break;
    if (reaped < 0 && errno == ECHILD)  // SIGCHLD set to SIG_IGN: the kernel reaped it
      return std::unexpected(MakeError(ErrorCode::kInternal,
                                       line + ": exit status lost (this process ignores SIGCHLD)"));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      KillAndReap(pid, status);
      return std::unexpected(
          MakeError(ErrorCode::kTimeout,
                    line + ": timed out after " + std::to_string(command.timeout.count()) + " ms"));
    }
    pollfd fds[4];
    nfds_t n = 0;
    if (out_open) fds[n++] = {p.out_parent.get(), POLLIN, 0};
    if (err_open) fds[n++] = {p.err_parent.get(), POLLIN, 0};
    if (p.in_parent.get() >= 0) fds[n++] = {p.in_parent.get(), POLLOUT, 0};
    if (pidfd.get() >= 0) fds[n++] = {pidfd.get(), POLLIN, 0};
    // Without a pidfd (old kernels) the child's exit is noticed by polling waitpid.
    int wait_ms = static_cast<int>(std::min<int64_t>(left.count(), pidfd.get() >= 0 ? 60'000 : 10));
    if (::poll(fds, n, wait_ms) < 0 && errno != EINTR) {
      auto error = SystemError(line, "poll");
      KillAndReap(pid, status);
      return error;
    }
    if (out_open) out_open = Drain(p.out_parent.get(), result.out);
    if (err_open) err_open = Drain(p.err_parent.get(), result.err);
    if (p.in_parent.get() >= 0) Feed(p.in_parent, command.stdin_data, written);
  }
  if (out_open) Drain(p.out_parent.get(), result.out);
  if (err_open) Drain(p.err_parent.get(), result.err);
  result.exit_code = ExitCode(status);
  return result;
}

}  // namespace

std::string FormatCommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`;&|<>*?()") == std::string::npos;
    if (plain) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

Result<std::string> FindExecutable(std::string_view name) {
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string_view::npos) {
    if (executable(std::string(name))) return std::string(name);
  } else if (!name.empty()) {
    // $PATH first, then the system directories: root's tools live in sbin, which a
    // non-login $PATH often lacks.
    const char* env = std::getenv("PATH");
    std::string path = env && *env ? std::string(env) + ":" : std::string();
    path += kDefaultPath;
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      std::string candidate = (dir.empty() ? "." : dir) + "/" + std::string(name);
      if (executable(candidate)) return candidate;
      start = end + 1;
    }
  }
  return std::unexpected(
      MakeError(ErrorCode::kNotFound, std::string(name) + ": command not found"));
}

Result<CommandOutput> RunCommand(const Command& command) {
  if (command.argv.empty())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "empty command line"));
  METASTACK_ASSIGN_OR_RETURN(std::string path, FindExecutable(command.argv[0]));
  const std::string line = FormatCommandLine(command.argv);
  Fd ns_fd;
  if (!command.netns.empty()) {
    METASTACK_ASSIGN_OR_RETURN(int fd, OpenNamespace(command.netns));
    ns_fd.Reset(fd);
  }
  Pipes pipes;
  METASTACK_RETURN_IF_ERROR(OpenPipes(pipes, line));
  METASTACK_ASSIGN_OR_RETURN(pid_t pid, Spawn(command, path, line, ns_fd.get(), pipes));
  return Supervise(command, line, pid, pipes);
}

Result<std::string> RunChecked(const Command& command) {
  METASTACK_ASSIGN_OR_RETURN(CommandOutput r, RunCommand(command));
  if (r.exit_code == 0) return std::move(r.out);
  std::string said = TrimNewlines(r.err.empty() ? r.out : r.err);
  return std::unexpected(MakeError(
      ErrorCode::kInternal, FormatCommandLine(command.argv) + ": exit status " +
                                std::to_string(r.exit_code) + (said.empty() ? "" : ": ") + said));
}

}  // namespace metastack::net
