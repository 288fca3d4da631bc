#pragma once
// Error values shared by every module.
//
// Expected failures travel as Result<T> (std::expected<T, Error>); nothing on a request path
// throws. Each module translates the codes of the libraries it wraps (SQLite, libpq, libisofs,
// Boost) into an Error once, at its boundary; http/ maps Error::code to a status exactly once.
// Error is a plain value: copyable, thread-compatible.

#include <expected>
#include <string>
#include <string_view>

namespace metastack {

enum class ErrorCode {
  kInvalidArgument,    // the caller sent something malformed (400)
  kNotFound,           // no such resource (404)
  kConflict,           // the resource exists / is already set (409)
  kAborted,            // lost a race: the resource changed since it was read (409); re-read
                       // and retry (a stale revision, store::StaleRevision)
  kUnauthenticated,    // credentials missing (401)
  kPermissionDenied,   // credentials present but wrong (403)
  kTooLarge,           // over a configured size limit (413)
  kResourceExhausted,  // over a rate limit; retrying later helps (429)
  kMethodNotAllowed,   // verb not accepted on this path (405)
  kUnavailable,        // a dependency is down; retrying may help (502/503)
  kTimeout,            // a dependency did not answer in time (504)
  kInternal,           // a bug or an unexpected library failure (500). Stays last: tests
                       // walk every code up to it.
};

// The short name of a code, e.g. "invalid_argument"; used in logs and JSON error bodies.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // human readable; for validation errors it follows "field: reason"
  std::string field;    // the offending field's path ("ports[0].subnets[1].cidr"), if any

  // "field: message" when a field is named, else the message alone.
  std::string ToString() const;
};

inline Error MakeError(ErrorCode code, std::string message, std::string field = {}) {
  return Error{code, std::move(message), std::move(field)};
}

template <typename T>
using Result = std::expected<T, Error>;

// Result<void> helpers.
using Status = std::expected<void, Error>;
inline Status Ok() { return {}; }

// A bad value in `field`, as a validator returns it (converts to any Result<T>).
inline std::unexpected<Error> InvalidField(std::string field, std::string message) {
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument, std::move(message), std::move(field)));
}

}  // namespace metastack

// Returns the error of a Result/Status expression from the enclosing function.
#define METASTACK_RETURN_IF_ERROR(expr)                             \
  do {                                                              \
    if (auto metastack_status_ = (expr); !metastack_status_)        \
      return std::unexpected(std::move(metastack_status_).error()); \
  } while (0)

// Declares `lhs` from a Result expression, or returns its error.
#define METASTACK_ASSIGN_OR_RETURN(lhs, expr)                                                  \
  auto METASTACK_CONCAT_(metastack_result_, __LINE__) = (expr);                                \
  if (!METASTACK_CONCAT_(metastack_result_, __LINE__))                                         \
    return std::unexpected(std::move(METASTACK_CONCAT_(metastack_result_, __LINE__)).error()); \
  lhs = std::move(*METASTACK_CONCAT_(metastack_result_, __LINE__))
#define METASTACK_CONCAT_INNER_(a, b) a##b
#define METASTACK_CONCAT_(a, b) METASTACK_CONCAT_INNER_(a, b)
