#include "http/error_response.h"

#include "http/headers.h"

namespace metastack::http {
namespace {

struct Mapping {
  ErrorCode code;
  unsigned status;
  std::string_view default_explanation;
  bool echo_message;  // whether the error's own message is shown to the client
};

constexpr Mapping kMappings[] = {
    {ErrorCode::kInvalidArgument, 400, "The server could not comply with the request since it is "
                                       "either malformed or otherwise incorrect.", true},
    {ErrorCode::kUnauthenticated, 401, "This server could not verify that you are authorized to "
                                       "access the document you requested.", true},
    {ErrorCode::kPermissionDenied, 403, "Access was denied to this resource.", true},
    {ErrorCode::kNotFound, 404, "The resource could not be found.", false},
    {ErrorCode::kMethodNotAllowed, 405, "The method is not allowed for this resource.", true},
    {ErrorCode::kConflict, 409, "There was a conflict when trying to complete your request.", false},
    {ErrorCode::kTooLarge, 400, "Request is too large.", true},
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

}  // namespace

std::string_view ReasonPhrase(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

ErrorAnswer ErrorResponse(const Error& error, bool head, std::chrono::seconds retry_after) {
  const Mapping* m = &kMappings[0];
  for (const auto& candidate : kMappings)
    if (candidate.code == error.code) m = &candidate;
  std::string explanation = m->echo_message && !error.message.empty()
                                ? error.ToString()
                                : std::string(m->default_explanation);
  ErrorAnswer a;
  a.status = m->status;
  a.content_type = "text/plain; charset=UTF-8";
  a.body = std::to_string(m->status) + " " + std::string(ReasonPhrase(m->status)) + "\n\n" +
           explanation + "\n\n   ";
  if (retry_after.count() > 0)
    a.headers.emplace_back(header::kRetryAfter, std::to_string(retry_after.count()));
  if (head) {
    a.content_type = "text/html; charset=UTF-8";
    a.body.clear();
  }
  return a;
}

}  // namespace metastack::http
