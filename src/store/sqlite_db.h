#pragma once
// A thin RAII layer over the SQLite C API for the SQLite store: a Connection that caches its
// prepared statements, a Statement that resets itself when it goes out of scope (so that a read
// never pins an old WAL snapshot), and the one place where SQLite result codes become our Error.
// Internal to store/.
//
// Thread-safety: a Connection (and every Statement taken from it) is used by one thread at a
// time; connections are opened with SQLITE_OPEN_NOMUTEX and the caller serialises access
// (SqliteStore's writer mutex, or a reader lease from ConnectionPool).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace metastack::store::sqlite {

// The error for SQLite result code `rc` on `db` (may be null), its message prefixed by `label`
// ("sqlite:PATH"): busy/locked -> kUnavailable, a constraint violation -> kConflict, a file that
// cannot be opened -> kUnavailable (the database cannot be reached), anything else -> kInternal.
Error TranslateError(int rc, sqlite3* db, std::string_view label);

class Connection;

// A prepared statement borrowed from a Connection's cache. Move-only; reset and unbound when
// destroyed. Bind indexes and column indexes are those of the SQL text (1-based / 0-based).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& BindOptional(int index, const std::optional<std::string>& text);  // nullopt: NULL

  // true: a row is available; false: done.
  Result<bool> Step();
  // Steps to completion, for statements that return no rows.
  Status Run();

  std::string Text(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  int64_t Int(int column) const;

 private:
  friend class Connection;
  Statement(Connection* connection, sqlite3_stmt* stmt, bool* busy);

  Connection* connection_;
  sqlite3_stmt* stmt_;
  bool* busy_;  // the cache entry's in-use flag; null for an uncached statement
  int bind_error_ = 0;
};

// One open database handle and its statement cache. Owns the sqlite3*; closing it finalizes
// every cached statement (no Statement may outlive its Connection).
class Connection {
 public:
  struct Options {
    bool create = false;  // create the file if missing
    std::chrono::milliseconds busy_timeout{5000};
    int64_t mmap_bytes = 0;  // PRAGMA mmap_size; 0 reads through SQLite's own page cache
  };
  // Opens `path` (never as a URI) with foreign keys on and the busy timeout set. `label`
  // ("sqlite:PATH") prefixes every error this connection reports.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, std::string label,
                                                  const Options& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A cached statement for `sql`; a second concurrent use of the same text (a nested query)
  // gets its own one-off statement.
  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that return no rows (schema scripts, pragmas).
  Status Exec(const std::string& sql);
  // The single-value result of a query such as "PRAGMA user_version".
  Result<std::string> QueryText(const std::string& sql);

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback() is a no-op outside a transaction (SQLite may
  // have rolled back already after an I/O error).
  Status BeginImmediate();
  Status Commit();
  void Rollback();

  Error LastError(int rc) const { return TranslateError(rc, db_, label_); }
  const std::string& label() const { return label_; }
  sqlite3* handle() { return db_; }

 private:
  Connection(sqlite3* db, std::string label) : db_(db), label_(std::move(label)) {}

  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };
  // Transparent, so that a lookup by string_view does not allocate on the hot path.
  struct Hash : std::hash<std::string_view> {
    using is_transparent = void;
  };
  sqlite3* db_;
  std::string label_;
  std::unordered_map<std::string, Cached, Hash, std::equal_to<>> cache_;
};

// Prepares `sql` and binds `args` to ?1, ?2, ... in order.
template <typename... Args>
Result<Statement> Bound(Connection& db, std::string_view sql, const Args&... args) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
  int index = 0;
  (stmt.Bind(++index, args), ...);
  return stmt;
}

// Runs a statement that returns no rows.
template <typename... Args>
Status Run(Connection& db, std::string_view sql, const Args&... args) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Bound(db, sql, args...));
  return stmt.Run();
}

// Whether a query returns a row.
template <typename... Args>
Result<bool> Exists(Connection& db, std::string_view sql, const Args&... args) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Bound(db, sql, args...));
  return stmt.Step();
}

// Read connections to one database, opened lazily and handed out one per caller. With WAL, each
// sees the last committed state and never waits for the writer.
class ConnectionPool {
 public:
  ConnectionPool(std::string path, std::string label, Connection::Options options, size_t max_idle);

  // Returns the connection to the pool when destroyed (or closes it when the pool has enough).
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    ~Lease();
    Connection& operator*() { return *connection_; }
    Connection* operator->() { return connection_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };
  Result<Lease> Acquire();

 private:
  std::string path_;
  std::string label_;
  Connection::Options options_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace metastack::store::sqlite
