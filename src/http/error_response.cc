#include "http/error_response.h"

#include <boost/beast/http/status.hpp>  // only the status table: not the whole of http/asio.h
#include <nlohmann/json.hpp>

#include "http/headers.h"

namespace metastack::http {
namespace {

struct Mapping {
  ErrorCode code;
  unsigned status;
  std::string_view default_explanation;
  bool echo_message;  // whether the plain body shows the error's own message
};

constexpr std::string_view kConflictExplanation =
    "There was a conflict when trying to complete your request.";

constexpr Mapping kMappings[] = {
    {ErrorCode::kInvalidArgument, 400,
     "The server could not comply with the request since it is "
     "either malformed or otherwise incorrect.",
     true},
    {ErrorCode::kUnauthenticated, 401,
     "This server could not verify that you are authorized to "
     "access the document you requested.",
     true},
    {ErrorCode::kPermissionDenied, 403, "Access was denied to this resource.", true},
    {ErrorCode::kNotFound, 404, "The resource could not be found.", false},
    {ErrorCode::kMethodNotAllowed, 405, "The method is not allowed for this resource.", true},
    {ErrorCode::kConflict, 409, kConflictExplanation, false},
    {ErrorCode::kAborted, 409, kConflictExplanation, false},
    {ErrorCode::kTooLarge, 413, "Request is too large.", true},
    // webob's HTTPTooManyRequests; the message (whose limit, whose identity) is not shown.
    {ErrorCode::kResourceExhausted, 429,
     "The client has sent too many requests in a given amount of time.", false},
    {ErrorCode::kInternal, 500, "An unknown error has occurred. Please try your request again.",
     false},
    // The message names an internal address or socket ("http://127.0.0.1:8775: Connection
    // refused"): it goes to the log, never to the client.
    {ErrorCode::kUnavailable, 502, "The upstream server is unavailable.", false},
    {ErrorCode::kTimeout, 504, "The upstream server did not answer in time.", false},
};

// The code's mapping; kInternal's for a code without one.
const Mapping& MappingOf(ErrorCode code) {
  const Mapping* internal = nullptr;
  for (const auto& m : kMappings) {
    if (m.code == code) return m;
    if (m.code == ErrorCode::kInternal) internal = &m;
  }
  return *internal;
}

std::string PlainBody(const Mapping& m, const Error& error, unsigned status) {
  std::string explanation = m.echo_message && !error.message.empty()
                                ? error.ToString()
                                : std::string(m.default_explanation);
  return std::to_string(status) + " " + std::string(ReasonPhrase(status)) + "\n\n" + explanation +
         "\n\n   ";
}

}  // namespace

std::string_view ReasonPhrase(unsigned status) {
  namespace bhttp = boost::beast::http;
  auto reason = bhttp::obsolete_reason(bhttp::int_to_status(status));
  return {reason.data(), reason.size()};
}

unsigned ErrorStatus(const Error& error) { return MappingOf(error.code).status; }

nlohmann::ordered_json ErrorJson(const Error& error) {
  const Mapping& m = MappingOf(error.code);
  nlohmann::ordered_json e = {{"code", std::string(ErrorCodeName(m.code))},
                              {"message", error.message}};
  if (!error.field.empty()) e["field"] = error.field;
  return nlohmann::ordered_json{{"error", std::move(e)}};
}

Response ErrorResponse(const Error& error, const ErrorForm& form) {
  const Mapping& m = MappingOf(error.code);
  Response r;
  r.status = form.status ? form.status : m.status;
  if (form.body == ErrorBody::kJson) {
    r.content_type = "application/json";
    r.body = ErrorJson(error).dump();
  } else if (form.head) {
    r.content_type = "text/html; charset=UTF-8";
  } else {
    r.content_type = "text/plain; charset=UTF-8";
    r.body = PlainBody(m, error, r.status);
  }
  if (form.retry_after.count() > 0)
    r.headers.emplace_back(header::kRetryAfter, std::to_string(form.retry_after.count()));
  return r;
}

}  // namespace metastack::http
