#pragma once
// libpq plumbing for the PostgreSQL store: connection parameters, one parameterised query at a
// time on a borrowed connection, libpq/SQLSTATE -> Error translation, the connection pool, and
// the transaction runner with its retry policy.
// Internal to store/; nothing outside store/ sees a PGconn or an SQLSTATE.

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/error.h"

namespace metastack::store::pg {

// The user's conninfo plus defaults it may override (connect_timeout, keepalives,
// application_name). Immutable; thread-safe.
class ConnParams {
 public:
  ConnParams(std::string conninfo, int connect_timeout_seconds);
  // Blocking connect (bounded by connect_timeout). Null only when out of memory; otherwise
  // check PQstatus(). The caller owns the connection (PQfinish).
  PGconn* Connect() const;
  // Non-blocking connect for the listener, driven with PQconnectPoll.
  PGconn* StartConnect() const;
  int connect_timeout_seconds() const { return connect_timeout_seconds_; }

 private:
  std::vector<std::string> keys_, values_;
  int connect_timeout_seconds_;
};

// kUnavailable "postgresql: cannot connect: <libpq's reason>".
Error ConnectError(PGconn* conn);

// libpq's multi-line messages on one line.
std::string OneLine(std::string_view message);

// The rows of one successful query; owns its PGresult. Values are text, valid while this lives.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col); }
  std::string_view Get(int row, int col) const {
    return {PQgetvalue(result_.get(), row, col),
            static_cast<size_t>(PQgetlength(result_.get(), row, col))};
  }
  std::string String(int row, int col) const { return std::string(Get(row, col)); }
  std::optional<std::string> Optional(int row, int col) const;
  int64_t Int(int row, int col) const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

// A query parameter: text, or nullopt for SQL NULL. Every parameter is sent as type text in
// binary format (raw bytes with a length); SQL casts where another type is wanted.
using Param = std::optional<std::string_view>;

// One borrowed connection. Not thread-safe; lives inside a Lease.
class Session {
 public:
  explicit Session(PGconn* conn) : conn_(conn) {}
  // One statement through PQexecParams; values only ever travel as parameters.
  Result<Rows> Exec(const char* sql, std::initializer_list<Param> params = {});
  // Why the last Exec failed: its SQLSTATE ("" when none), and whether the connection is gone
  // (the server then rolled back any open transaction).
  const std::string& sqlstate() const { return sqlstate_; }
  bool connection_lost() const { return lost_ || PQstatus(conn_) != CONNECTION_OK; }
  // PQreset: reconnects with the same parameters. kUnavailable when that fails.
  Status Reset();
  PGconn* conn() const { return conn_; }

 private:
  PGconn* conn_;
  std::string sqlstate_;
  bool lost_ = false;
};

// SQLSTATEs after which a whole transaction is worth running again.
bool IsRetryable(std::string_view sqlstate);

// A fixed number of connections, opened on demand and handed out one per call. Thread-safe.
// A connection found broken is PQreset when next borrowed.
class ConnectionPool {
 public:
  ConnectionPool(ConnParams params, size_t size);
  ~ConnectionPool();  // every Lease must have been returned
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Returns its connection to the pool when destroyed.
  class Lease {
   public:
    Lease(ConnectionPool* pool, PGconn* conn) : pool_(pool), session_(conn) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), session_(other.session_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Session& session() { return session_; }

   private:
    ConnectionPool* pool_;
    Session session_;
  };

  // Waits for a free connection; kUnavailable when the server cannot be reached.
  Result<Lease> Acquire();
  const ConnParams& params() const { return params_; }

 private:
  void Release(PGconn* conn);

  const ConnParams params_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> idle_;
  size_t open_ = 0;  // idle plus leased
};

// Retryable failures (deadlocks, unique violations that raced a check) per transaction.
inline constexpr int kMaxAttempts = 5;

// Runs `body` in one READ COMMITTED transaction on a borrowed connection, and again (bounded)
// after a deadlock, a serialization failure, a unique violation that raced a check, or a
// connection lost before COMMIT (the server rolled it back). `body` returns Result<T> or
// Status and must be safe to run more than once. An error `body` returns rolls back.
template <typename F>
std::invoke_result_t<F&, Session&> Transact(ConnectionPool& pool, F&& body) {
  using R = std::invoke_result_t<F&, Session&>;
  METASTACK_ASSIGN_OR_RETURN(auto lease, pool.Acquire());
  Session& s = lease.session();
  bool reconnected = false;
  Error last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto begin = s.Exec("BEGIN ISOLATION LEVEL READ COMMITTED");
    R result = begin ? body(s) : R(std::unexpected(begin.error()));
    if (result) {
      auto commit = s.Exec("COMMIT");
      if (commit) return result;
      if (s.connection_lost())
        return std::unexpected(MakeError(
            ErrorCode::kUnavailable,
            "postgresql: connection lost during COMMIT; the write may or may not have been "
            "applied: " +
                commit.error().message));
      if (!IsRetryable(s.sqlstate())) return std::unexpected(commit.error());
      last = commit.error();
      continue;
    }
    last = result.error();
    if (s.connection_lost()) {
      if (reconnected) return result;
      reconnected = true;
      METASTACK_RETURN_IF_ERROR(s.Reset());
      continue;
    }
    std::string state = s.sqlstate();  // empty when `body` itself refused
    (void)s.Exec("ROLLBACK");
    if (!IsRetryable(state)) return result;
  }
  return std::unexpected(last);
}

// Runs `body` (autocommit statements) on a borrowed connection, once more after a reconnect:
// a connection found dead since its last use costs no error.
template <typename F>
std::invoke_result_t<F&, Session&> Query(ConnectionPool& pool, F&& body) {
  METASTACK_ASSIGN_OR_RETURN(auto lease, pool.Acquire());
  Session& s = lease.session();
  auto result = body(s);
  if (result || !s.connection_lost()) return result;
  METASTACK_RETURN_IF_ERROR(s.Reset());
  return body(s);
}

}  // namespace metastack::store::pg
