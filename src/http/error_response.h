#pragma once
// The one mapping from Error to an HTTP answer, used by every service, by the server for the
// requests it cannot read, and by the CLI's view of the service. Each ErrorCode has one status
// (a code with no mapping, e.g. an out-of-range value, is 500 kInternal).
//
// Two bodies:
//  - plain (guests, and every metadata client): Nova's (webob's plain-text error page:
//    "<status> <reason>\n\n<explanation>\n\n   "), so clients that print or match them see what
//    they see from Nova. Not-found, conflict, aborted, rate-limited, internal, unavailable (502)
//    and timeout (504) answers never echo the error's message, so internal detail (paths,
//    addresses, sockets) never reaches a guest.
//  - JSON (the operators' APIs: admin, ns-proxy control, /healthz):
//    {"error": {"code": "conflict", "message": "...", "field": "ports[0].network_id"}}, with the
//    message always (operators need it); "field" only when the error names one.
// Pure; thread-safe.

#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "base/error.h"
#include "http/response.h"

namespace metastack::http {

enum class ErrorBody { kPlain, kJson };

struct ErrorForm {
  ErrorBody body = ErrorBody::kPlain;
  // The answer to a HEAD request, which (as from Nova) has no body and, in the plain form,
  // webob's default content type.
  bool head = false;
  // Positive: a Retry-After header (whole seconds) for a client told to come back later
  // (429 kResourceExhausted).
  std::chrono::seconds retry_after{0};
  // Nonzero: this status instead of the code's, for an answer of the transport's own that no
  // code names (431 for request headers over the limit). The body follows it.
  unsigned status = 0;
};

Response ErrorResponse(const Error& error, const ErrorForm& form = {});

// The status ErrorResponse gives `error`, and its JSON body: for callers that carry the JSON as
// a document rather than as text (admin::Dispatch, shared with the CLI's --store mode).
unsigned ErrorStatus(const Error& error);
nlohmann::ordered_json ErrorJson(const Error& error);

// "Not Found" for 404, and so on: Beast's reason phrase for a status.
std::string_view ReasonPhrase(unsigned status);

}  // namespace metastack::http
