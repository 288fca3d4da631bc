#pragma once
// The admin API's operations as one dispatch function over a Store, shared by the admin HTTP
// listener and by the CLI's local mode (--store), so both behave identically.
//
// Resources (JSON in, JSON out):
//   GET    /v1/instances[?limit=&after=&project_id=]   list (paginated: "next" is the cursor)
//   POST   /v1/instances                               create from an instance document
//   GET    /v1/instances/{uuid}                        {"instance": doc, "revision": n}
//   PUT    /v1/instances/{uuid}[?revision=n]           replace (409 if the revision moved)
//   PATCH  /v1/instances/{uuid}[?revision=n]           JSON merge patch (RFC 7386) of the doc;
//                                                      without n it retries lost races itself
//   DELETE /v1/instances/{uuid}
//   DELETE /v1/instances/{uuid}/password               the operator's password reset
//   GET|POST /v1/networks, GET|DELETE /v1/networks/{id}, PUT /v1/networks/{id}/router
//   GET|POST /v1/routers,  GET|DELETE /v1/routers/{id}
//   PUT    /v1/routers/{id}/host, /v1/networks/{id}/host   {"host": "NAME"} assigns it to the
//                                                      daemon whose [general] host is NAME;
//                                                      null unassigns ("host" is null then,
//                                                      in answers too)
//   PUT    /v1/networks/{id}/http_tokens               {"http_tokens": "optional"|"required"}:
//                                                      the IMDSv2 session policy of its
//                                                      instances; null unsets (api/sessions.h)
//   GET    /v1/ports[?network_id=&limit=&after=]       every fixed IP of every port, paginated
//                                                      by (network, IP): "next" is "NETWORK IP"
//   GET    /v1/ports/lookup?ip=&(network_id=|router_id=)   what the metadata agent resolves
// Errors: http::ErrorResponse's JSON form,
// {"error": {"code": "conflict", "message": "...", "field": "ports[0].network_id"}}, with its
// status (a stale ?revision= is "aborted", 409). Blocking (store calls): run it off the
// io_context. Thread-safe as the Store is.

#include <chrono>
#include <optional>
#include <string>

#include "core/py_json.h"
#include "store/store.h"

namespace metastack::admin {

struct AdminRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded, without query
  std::string query;   // raw
  std::string body;
};

struct AdminReply {
  unsigned status = 200;
  nlohmann::ordered_json body;  // null for 204
};

// One try at a request. A PATCH without ?revision= that lost the race for its instance (another
// writer replaced it between this try's read and write) asks to be tried again, with the next
// `attempt`, after `retry_in`: a random while that grows with `attempt`, so that a crowd of
// writers drains; up to 100 tries, after which the 409 is the answer.
struct AdminAttempt {
  AdminReply reply;
  std::optional<std::chrono::microseconds> retry_in;  // set: wait this long, then try again
};
AdminAttempt DispatchAttempt(store::Store& store, const AdminRequest& request, int attempt);

// Tries until done, sleeping between tries on the calling thread: for callers with a thread of
// their own (the CLI's --store mode). A server waits without holding a thread instead
// (admin::MakeAdminHandler).
AdminReply Dispatch(store::Store& store, const AdminRequest& request);

// The JSON error body for an Error, and its status.
AdminReply ErrorReply(const Error& error);

// Query-string parameters ("a=1&b=x%20y"), percent-decoded; "" when absent.
std::string QueryParam(const std::string& query, const std::string& name);

}  // namespace metastack::admin
