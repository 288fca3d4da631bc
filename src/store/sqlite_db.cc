#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <cstring>

namespace metastack::store::sqlite {

Error TranslateError(int rc, sqlite3* db, std::string_view label) {
  std::string message(label);
  message += ": ";
  // sqlite3_errmsg describes the last failure on `db`; without a handle, the code's own text.
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return MakeError(ErrorCode::kUnavailable, std::move(message));
    case SQLITE_CONSTRAINT:
      return MakeError(ErrorCode::kConflict, std::move(message));
    case SQLITE_CANTOPEN: {
      // "unable to open database file" alone does not say why; the OS does.
      int os_error = db ? sqlite3_system_errno(db) : 0;
      if (os_error != 0) message += std::string(" (") + std::strerror(os_error) + ")";
      return MakeError(ErrorCode::kUnavailable, std::move(message));
    }
    default:
      return MakeError(ErrorCode::kInternal, std::move(message));
  }
}

// --- Statement -------------------------------------------------------------------------------

Statement::Statement(Connection* connection, sqlite3_stmt* stmt, bool* busy)
    : connection_(connection), stmt_(stmt), busy_(busy) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_),
      stmt_(other.stmt_),
      busy_(other.busy_),
      bind_error_(other.bind_error_) {
  other.stmt_ = nullptr;
  other.busy_ = nullptr;
}

Statement::~Statement() {
  if (!stmt_) return;
  if (busy_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *busy_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

Statement& Statement::Bind(int index, std::string_view text) {
  // A default string_view has a null data(), which SQLite would bind as NULL, not ''.
  const char* data = text.data() ? text.data() : "";
  int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindOptional(int index, const std::optional<std::string>& text) {
  if (text) return Bind(index, std::string_view(*text));
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_error_ != 0) return std::unexpected(connection_->LastError(bind_error_));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(connection_->LastError(rc));
}

Status Statement::Run() {
  while (true) {
    METASTACK_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return Text(column);
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

// --- Connection ------------------------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, std::string label,
                                                     const Options& options) {
  // NOMUTEX: the caller already serialises use of a connection, so SQLite's own per-call mutex
  // would only cost time. EXRESCODE: extended codes, so a constraint is told from an I/O error.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error error = TranslateError(rc, db, label);
    sqlite3_close_v2(db);
    return std::unexpected(std::move(error));
  }
  std::unique_ptr<Connection> connection(new Connection(db, std::move(label)));
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
  METASTACK_RETURN_IF_ERROR(connection->Exec("PRAGMA foreign_keys = ON"));
  if (options.mmap_bytes > 0)
    METASTACK_RETURN_IF_ERROR(
        connection->Exec("PRAGMA mmap_size = " + std::to_string(options.mmap_bytes)));
  return connection;
}

Connection::~Connection() {
  for (auto& [_, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.busy) {
    it->second.busy = true;
    return Statement(this, it->second.stmt, &it->second.busy);
  }
  sqlite3_stmt* stmt = nullptr;
  bool cache = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(LastError(rc));
  if (!cache) return Statement(this, stmt, nullptr);
  auto& entry = cache_.emplace(std::string(sql), Cached{stmt, true}).first->second;
  return Statement(this, stmt, &entry.busy);
}

Status Connection::Exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);  // sqlite3_errmsg(db_) holds the same text
  if (rc != SQLITE_OK) return std::unexpected(LastError(rc));
  return Ok();
}

Result<std::string> Connection::QueryText(const std::string& sql) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::string();
  return stmt.Text(0);
}

Status Connection::BeginImmediate() {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Prepare("BEGIN IMMEDIATE"));
  return stmt.Run();
}

Status Connection::Commit() {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Prepare("COMMIT"));
  return stmt.Run();
}

void Connection::Rollback() {
  if (sqlite3_get_autocommit(db_)) return;
  if (auto stmt = Prepare("ROLLBACK")) (void)stmt->Run();
}

// --- ConnectionPool --------------------------------------------------------------------------

ConnectionPool::ConnectionPool(std::string path, std::string label, Connection::Options options,
                               size_t max_idle)
    : path_(std::move(path)), label_(std::move(label)), options_(options), max_idle_(max_idle) {}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
  }
  Connection::Options options = options_;
  options.create = false;
  METASTACK_ASSIGN_OR_RETURN(auto connection, Connection::Open(path_, label_, options));
  // A guard against a read path writing by mistake: it would bypass the writer's transaction.
  METASTACK_RETURN_IF_ERROR(connection->Exec("PRAGMA query_only = ON"));
  return Lease(this, std::move(connection));
}

ConnectionPool::Lease::~Lease() {
  if (!connection_) return;
  std::lock_guard lock(pool_->mu_);
  if (pool_->idle_.size() < pool_->max_idle_) pool_->idle_.push_back(std::move(connection_));
}

}  // namespace metastack::store::sqlite
