#include "store/postgres_conn.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace metastack::store::pg {

namespace {

constexpr Oid kTextOid = 25;

// libpq reports a dead socket without an SQLSTATE, and may still say CONNECTION_OK until the
// next call; every other failure of a well-formed query comes from the server with one.
bool ConnectionGone(PGconn* conn, std::string_view state) {
  return PQstatus(conn) != CONNECTION_OK || state.empty() || state.starts_with("08") ||
         state == "57P01" || state == "57P02" || state == "57P03";
}

void IgnoreNotice(void*, const char*) {}

PGconn* Quiet(PGconn* conn) {
  // Server notices ("relation already exists, skipping", shutdown warnings) are not errors;
  // libpq would print them on stderr.
  if (conn) PQsetNoticeProcessor(conn, &IgnoreNotice, nullptr);
  return conn;
}

Error QueryError(PGconn* conn, const PGresult* result, std::string_view state) {
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = OneLine(primary ? primary : PQerrorMessage(conn));
  if (ConnectionGone(conn, state))
    return MakeError(ErrorCode::kUnavailable, "postgresql: connection lost: " + message);
  ErrorCode code = ErrorCode::kInternal;
  if (state == "23505" || state == "23503")  // unique / foreign key violations
    code = ErrorCode::kConflict;
  else if (state.starts_with("22"))  // data exceptions: bytes the database cannot hold
    code = ErrorCode::kInvalidArgument;
  else if (state == "57014")  // statement_timeout
    code = ErrorCode::kTimeout;
  else if (state.starts_with("53") || IsRetryable(state))  // out of resources, or contention
    code = ErrorCode::kUnavailable;
  return MakeError(code, "postgresql: " + message);
}

}  // namespace

std::string OneLine(std::string_view message) {
  std::string out;
  bool space = false;
  for (char c : message) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

ConnParams::ConnParams(std::string conninfo, int connect_timeout_seconds)
    : connect_timeout_seconds_(connect_timeout_seconds) {
  // The URI's own connect_timeout wins (dbname is expanded last), so learn the effective one.
  if (PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption* o = options; o->keyword; ++o)
      if (std::string_view(o->keyword) == "connect_timeout" && o->val && *o->val)
        connect_timeout_seconds_ = std::atoi(o->val);
    PQconninfoFree(options);
  }
  keys_ = {"connect_timeout",     "application_name", "keepalives_idle",
           "keepalives_interval", "keepalives_count", "dbname"};
  values_ = {
      std::to_string(connect_timeout_seconds), "metastack", "30", "10", "3", std::move(conninfo)};
}

namespace {
template <typename F>
PGconn* WithArrays(const std::vector<std::string>& keys, const std::vector<std::string>& values,
                   F connect) {
  std::vector<const char*> k, v;
  for (size_t i = 0; i < keys.size(); ++i) {
    k.push_back(keys[i].c_str());
    v.push_back(values[i].c_str());
  }
  k.push_back(nullptr);
  v.push_back(nullptr);
  return connect(k.data(), v.data());
}
}  // namespace

PGconn* ConnParams::Connect() const {
  return WithArrays(keys_, values_, [](const char* const* k, const char* const* v) {
    return Quiet(PQconnectdbParams(k, v, /*expand_dbname=*/1));
  });
}

PGconn* ConnParams::StartConnect() const {
  return WithArrays(keys_, values_, [](const char* const* k, const char* const* v) {
    return Quiet(PQconnectStartParams(k, v, /*expand_dbname=*/1));
  });
}

Error ConnectError(PGconn* conn) {
  std::string why = conn ? OneLine(PQerrorMessage(conn)) : "out of memory";
  return MakeError(ErrorCode::kUnavailable, "postgresql: cannot connect: " + why);
}

std::optional<std::string> Rows::Optional(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return String(row, col);
}

int64_t Rows::Int(int row, int col) const {
  std::string_view text = Get(row, col);
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

Result<Rows> Session::Exec(const char* sql, std::initializer_list<Param> params) {
  sqlstate_.clear();
  lost_ = false;
  std::vector<Oid> types(params.size(), kTextOid);
  std::vector<int> formats(params.size(), 1);  // binary text: exact bytes, no NUL-termination
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (const Param& p : params) {
    values.push_back(p ? (p->data() ? p->data() : "") : nullptr);
    lengths.push_back(p ? static_cast<int>(p->size()) : 0);
  }
  PGresult* result = PQexecParams(conn_, sql, static_cast<int>(params.size()), types.data(),
                                  values.data(), lengths.data(), formats.data(),
                                  /*resultFormat=*/0);
  Rows rows(result);  // owns `result` from here on, null included
  ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return rows;
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state ? state : "";
  lost_ = ConnectionGone(conn_, sqlstate_);
  return std::unexpected(QueryError(conn_, result, sqlstate_));
}

Status Session::Reset() {
  PQreset(conn_);
  lost_ = false;
  if (PQstatus(conn_) != CONNECTION_OK) return std::unexpected(ConnectError(conn_));
  return Ok();
}

bool IsRetryable(std::string_view sqlstate) {
  // serialization_failure, deadlock_detected, and unique_violation: a check that raced a
  // concurrent insert; run again, the check then sees the committed row and says exactly what.
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "23505";
}

ConnectionPool::ConnectionPool(ConnParams params, size_t size)
    : params_(std::move(params)), size_(size == 0 ? 1 : size) {}

ConnectionPool::~ConnectionPool() {
  for (PGconn* conn : idle_) PQfinish(conn);
}

ConnectionPool::Lease::~Lease() {
  if (pool_) pool_->Release(session_.conn());
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  PGconn* conn = nullptr;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      conn = idle_.back();
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (!conn) {
    conn = params_.Connect();
    if (!conn) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
      return std::unexpected(ConnectError(nullptr));
    }
  } else if (PQstatus(conn) != CONNECTION_OK) {
    PQreset(conn);
  }
  Lease lease(this, conn);  // a broken connection goes back too, to be reset next time
  if (PQstatus(conn) != CONNECTION_OK) return std::unexpected(ConnectError(conn));
  return lease;
}

void ConnectionPool::Release(PGconn* conn) {
  // A caller that returned mid-transaction must not leak it into the next borrower.
  PGTransactionStatusType tx = PQtransactionStatus(conn);
  if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR)
    PQclear(PQexecParams(conn, "ROLLBACK", 0, nullptr, nullptr, nullptr, nullptr, 0));
  std::lock_guard lock(mu_);
  idle_.push_back(conn);
  cv_.notify_one();
}

}  // namespace metastack::store::pg
