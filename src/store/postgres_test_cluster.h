#pragma once
// A throwaway PostgreSQL cluster for tests: initdb into a fresh directory under /tmp, a server
// listening on a unix socket in that directory only (no TCP port to collide on), one fresh
// database per test, and at the end `pg_ctl stop -m immediate` and the directory removed.
//
// The cleanup is done by a watchdog process that waits for this process's end of a pipe to
// close, so a crashed or killed test binary leaves no server behind either. When the tests run
// as root the server runs as the `postgres` user (PostgreSQL refuses to run as root).
// Missing server binaries (/usr/lib/postgresql/*/bin) are an error, never a skip: CI installs
// them (scripts/setup.sh). Not thread-safe except CreateDatabase() and Exec().
//
// One cluster for a whole CTest run: CTest starts every test case as its own process, and an
// initdb costs seconds, so CTest's fixture `postgres` runs `pg_test_cluster start STATE` once
// (StartDetached: the cluster outlives that process and is stopped by `pg_test_cluster stop
// STATE`, or by its watchdog when the CTest process ends) and passes STATE to every test in
// METASTACK_TEST_POSTGRES; Shared() then attaches to that cluster instead of starting one.
// Database names carry the process id, so processes sharing the cluster never collide.

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace metastack::store::testing {

class PostgresTestCluster {
 public:
  // initdb, start, wait until pg_isready says yes.
  static Result<std::unique_ptr<PostgresTestCluster>> Start();
  // The cluster the whole test binary shares: started on first use, stopped after the last
  // test (a GoogleTest environment), or by the watchdog if the binary dies first.
  static Result<PostgresTestCluster*> Shared();

  // Starts a cluster that outlives this process: its watchdog stops it and removes its
  // directory when process `guardian` ends. Writes what Attach() needs to `state_file`.
  static Status StartDetached(const std::string& state_file, pid_t guardian);
  // The cluster StartDetached() described in `state_file`; Stop() and Restart() are refused
  // (other processes use it) and destroying the object leaves the server running.
  static Result<std::unique_ptr<PostgresTestCluster>> Attach(const std::string& state_file);
  // Stops the cluster described in `state_file`, removes its directory, its watchdog and the
  // file. A missing file is not an error (nothing was started).
  static Status StopDetached(const std::string& state_file);

  ~PostgresTestCluster();
  PostgresTestCluster(const PostgresTestCluster&) = delete;
  PostgresTestCluster& operator=(const PostgresTestCluster&) = delete;

  // CREATE DATABASE t_<n>; returns its name.
  Result<std::string> CreateDatabase();
  // A libpq URI for `database` as the superuser, over the unix socket.
  std::string Uri(std::string_view database) const;
  // Runs one statement as the superuser; the first column of the first row, if any.
  Result<std::string> Exec(std::string_view database, const std::string& sql);

  // Stops the server at once (as a crash would) / starts it again on the same socket.
  Status Stop();
  Status Restart();

 private:
  PostgresTestCluster() = default;
  static Result<std::unique_ptr<PostgresTestCluster>> Create(const std::string& watchdog_wait,
                                                             int watchdog_stdin);
  Status StartServer();
  Status Run(std::vector<std::string> argv, const std::string& log, bool as_server_user);

  std::string bin_;  // the PostgreSQL bin directory
  std::string dir_;  // the temp dir: socket, logs; data in dir_/data
  int port_ = 0;
  bool as_root_ = false;
  bool running_ = false;
  bool attached_ = false;   // another process owns the server (Attach)
  int watchdog_pipe_ = -1;  // write end; closing it tells the watchdog to clean up
  pid_t watchdog_pid_ = -1;
  std::mutex mu_;
  int next_database_ = 0;
};

}  // namespace metastack::store::testing
