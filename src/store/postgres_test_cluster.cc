#include "store/postgres_test_cluster.h"

#include <fcntl.h>
#include <glob.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace metastack::store::testing {
namespace {

Error Fail(std::string message) {
  return MakeError(ErrorCode::kInternal, "postgres test cluster: " + std::move(message));
}

// The newest /usr/lib/postgresql/<version>/bin that has initdb, else initdb's dir on PATH.
Result<std::string> FindBinDir() {
  glob_t g{};
  std::vector<std::string> found;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  auto version = [](const std::string& path) {
    return std::atoi(path.c_str() + std::string_view("/usr/lib/postgresql/").size());
  };
  std::sort(found.begin(), found.end(),
            [&](const auto& a, const auto& b) { return version(a) < version(b); });
  if (!found.empty()) return found.back().substr(0, found.back().size() - 6);
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty() && access((dir + "/initdb").c_str(), X_OK) == 0 &&
          access((dir + "/pg_ctl").c_str(), X_OK) == 0)
        return dir + "/";
  }
  return std::unexpected(
      Fail("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb "
           "on PATH); install the `postgresql` package (scripts/setup.sh)"));
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

std::string Runuser() {
  for (const char* path : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"})
    if (access(path, X_OK) == 0) return path;
  return "runuser";
}

// A port number no one listens on now. Only names the socket file (no TCP), so a later
// collision is harmless; taking the kernel's pick keeps parallel test binaries apart.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) close(fd);
  return port ? port : 50000 + static_cast<int>(getpid() % 10000);
}

// posix_spawn with stdin from /dev/null (or `stdin_fd`) and output appended to `log`.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log, int stdin_fd,
                    bool new_process_group) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  else
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (new_process_group) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return std::unexpected(Fail("cannot run " + argv[0] + ": " + std::strerror(rc)));
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

Status PostgresTestCluster::Run(std::vector<std::string> argv, const std::string& log,
                                bool as_server_user) {
  if (as_server_user && as_root_) argv.insert(argv.begin(), {Runuser(), "-u", "postgres", "--"});
  METASTACK_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, log, -1, false));
  if (int rc = Wait(pid); rc != 0) {
    std::string command;
    for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
    return std::unexpected(
        Fail(command + " exited with " + std::to_string(rc) + ":\n" + Tail(log)));
  }
  return Ok();
}

Result<std::unique_ptr<PostgresTestCluster>> PostgresTestCluster::Start() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(Fail("pipe2 failed"));
  auto cluster = Create("read _", fds[0]);
  close(fds[0]);
  if (!cluster) {
    close(fds[1]);
    return cluster;
  }
  (*cluster)->watchdog_pipe_ = fds[1];
  return cluster;
}

// initdb and start, with a watchdog that runs the shell command `watchdog_wait` (stdin from
// `watchdog_stdin`, or /dev/null when -1) and then stops the server and removes the directory.
Result<std::unique_ptr<PostgresTestCluster>> PostgresTestCluster::Create(
    const std::string& watchdog_wait, int watchdog_stdin) {
  std::unique_ptr<PostgresTestCluster> c(new PostgresTestCluster());
  METASTACK_ASSIGN_OR_RETURN(c->bin_, FindBinDir());
  c->as_root_ = geteuid() == 0;
  char dir[] = "/tmp/metastack-pg-XXXXXX";  // short: a socket path has ~107 bytes
  if (!mkdtemp(dir)) return std::unexpected(Fail(std::string("mkdtemp: ") + std::strerror(errno)));
  c->dir_ = dir;
  if (c->as_root_) {
    passwd* pw = getpwnam("postgres");
    if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) != 0)
      return std::unexpected(Fail("running as root needs a `postgres` user to own " + c->dir_ +
                                  " (install the postgresql package)"));
  }
  // The watchdog first, so that every later failure is cleaned up too.
  std::string script =
      watchdog_wait + "; if [ \"$4\" = 1 ]; then " + Runuser() +
      " -u postgres -- \"$1\" stop -D \"$2\" -m immediate -s; else \"$1\" stop -D \"$2\" -m "
      "immediate -s; fi; rm -rf \"$3\"";
  METASTACK_ASSIGN_OR_RETURN(
      c->watchdog_pid_, Spawn({"/bin/sh", "-c", script, "sh", c->bin_ + "pg_ctl", c->dir_ + "/data",
                               c->dir_, c->as_root_ ? "1" : "0"},
                              "/dev/null", watchdog_stdin, /*new_process_group=*/true));

  METASTACK_RETURN_IF_ERROR(c->Run({c->bin_ + "initdb", "-D", c->dir_ + "/data", "-U", "postgres",
                                    "-A", "trust", "-E", "UTF8", "--locale=C", "-N"},
                                   c->dir_ + "/initdb.log", true));
  c->port_ = FreePort();
  METASTACK_RETURN_IF_ERROR(c->StartServer());
  return c;
}

// The state file: one line, "<dir> <port> <bin> <as_root> <watchdog pid>".
Status PostgresTestCluster::StartDetached(const std::string& state_file, pid_t guardian) {
  METASTACK_ASSIGN_OR_RETURN(
      auto cluster,
      Create("tail --pid=" + std::to_string(guardian) + " -f /dev/null 2>/dev/null", -1));
  std::ofstream out(state_file, std::ios::trunc);
  out << cluster->dir_ << ' ' << cluster->port_ << ' ' << cluster->bin_ << ' '
      << (cluster->as_root_ ? 1 : 0) << ' ' << cluster->watchdog_pid_ << '\n';
  out.close();
  if (!out) return std::unexpected(Fail("cannot write " + state_file));
  cluster->running_ = false;  // the server outlives this object; the watchdog is not waited
  cluster->watchdog_pid_ = -1;
  return Ok();
}

namespace {

struct State {
  std::string dir, bin;
  int port = 0, as_root = 0;
  pid_t watchdog = -1;
};

Result<State> ReadState(const std::string& state_file) {
  std::ifstream in(state_file);
  State state;
  if (!(in >> state.dir >> state.port >> state.bin >> state.as_root >> state.watchdog))
    return std::unexpected(
        MakeError(ErrorCode::kNotFound, "postgres test cluster: no cluster in " + state_file));
  return state;
}

}  // namespace

Result<std::unique_ptr<PostgresTestCluster>> PostgresTestCluster::Attach(
    const std::string& state_file) {
  METASTACK_ASSIGN_OR_RETURN(State state, ReadState(state_file));
  std::unique_ptr<PostgresTestCluster> c(new PostgresTestCluster());
  c->dir_ = state.dir;
  c->port_ = state.port;
  c->bin_ = state.bin;
  c->as_root_ = state.as_root == 1;
  c->attached_ = true;
  return c;
}

Status PostgresTestCluster::StopDetached(const std::string& state_file) {
  if (!std::filesystem::exists(state_file)) return Ok();
  METASTACK_ASSIGN_OR_RETURN(State state, ReadState(state_file));
  METASTACK_ASSIGN_OR_RETURN(auto cluster, Attach(state_file));
  cluster->attached_ = false;
  cluster->running_ = true;
  Status stopped = cluster->Stop();
  if (state.watchdog > 0) kill(-state.watchdog, SIGKILL);  // its own process group
  std::error_code ignored;
  std::filesystem::remove_all(state.dir, ignored);
  std::filesystem::remove(state_file, ignored);
  return stopped;
}

Status PostgresTestCluster::StartServer() {
  // Unix socket only. No fsync: the cluster is thrown away, and what Stop() simulates is a
  // server crash, not the machine's (so synchronous_commit stays on: commits survive it).
  std::string options = "-p " + std::to_string(port_) + " -k " + dir_ +
                        " -c listen_addresses='' -c fsync=off -c full_page_writes=off"
                        " -c max_connections=200";
  METASTACK_RETURN_IF_ERROR(Run({bin_ + "pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log",
                                 "-o", options, "-w", "-t", "60", "-s", "start"},
                                dir_ + "/pg_ctl.log", true));
  running_ = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    auto ready =
        Run({bin_ + "pg_isready", "-q", "-h", dir_, "-p", std::to_string(port_), "-t", "1"},
            dir_ + "/pg_isready.log", false);
    if (ready) return Ok();
    if (std::chrono::steady_clock::now() > deadline)
      return std::unexpected(Fail("server not ready after 30 s:\n" + Tail(dir_ + "/server.log")));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status PostgresTestCluster::Stop() {
  if (attached_)
    return std::unexpected(Fail("the cluster is shared by the whole test run; use Start()"));
  if (!running_) return Ok();
  running_ = false;
  return Run({bin_ + "pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-s", "stop"},
             dir_ + "/pg_ctl.log", true);
}

Status PostgresTestCluster::Restart() {
  if (attached_)
    return std::unexpected(Fail("the cluster is shared by the whole test run; use Start()"));
  return StartServer();
}

PostgresTestCluster::~PostgresTestCluster() {
  (void)Stop();
  if (watchdog_pipe_ >= 0) close(watchdog_pipe_);  // the watchdog removes dir_
  if (watchdog_pid_ > 0) Wait(watchdog_pid_);
}

std::string PostgresTestCluster::Uri(std::string_view database) const {
  return "postgresql:///" + std::string(database) + "?host=" + dir_ +
         "&port=" + std::to_string(port_) + "&user=postgres";
}

Result<std::string> PostgresTestCluster::Exec(std::string_view database, const std::string& sql) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(Uri(database).c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return std::unexpected(Fail(std::string("connect: ") + PQerrorMessage(conn.get())));
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    return std::unexpected(Fail(sql + ": " + PQerrorMessage(conn.get())));
  if (PQntuples(result.get()) == 0 || PQnfields(result.get()) == 0) return std::string();
  return std::string(PQgetvalue(result.get(), 0, 0));
}

Result<std::string> PostgresTestCluster::CreateDatabase() {
  std::string name;
  {
    std::lock_guard lock(mu_);
    name = "t_" + std::to_string(getpid()) + "_" + std::to_string(next_database_++);
  }
  // Identifiers cannot be parameters; `name` is ours, never input.
  METASTACK_RETURN_IF_ERROR(Exec("postgres", "CREATE DATABASE " + name));
  return name;
}

namespace {

struct SharedState {
  std::once_flag once;
  std::unique_ptr<PostgresTestCluster> cluster;
  Error error;
};
SharedState& SharedCluster() {
  static SharedState* state = new SharedState();  // outlives static destruction order
  return *state;
}

// Stops the shared cluster after the last test, while the process is still whole.
class SharedClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedCluster().cluster.reset(); }
};
[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedClusterEnvironment);

}  // namespace

Result<PostgresTestCluster*> PostgresTestCluster::Shared() {
  SharedState& state = SharedCluster();
  std::call_once(state.once, [&] {
    const char* shared = std::getenv("METASTACK_TEST_POSTGRES");
    auto started = shared && *shared ? Attach(shared) : Start();
    if (started)
      state.cluster = std::move(*started);
    else
      state.error = started.error();
  });
  if (!state.cluster) return std::unexpected(state.error);
  return state.cluster.get();
}

}  // namespace metastack::store::testing
