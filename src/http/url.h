#pragma once
// Request targets as a WSGI server hands them to an application: the path percent-decoded
// (invalid escapes kept as written, '+' kept: it means space only in queries) and the query
// string apart; and the percent-encoding of a path segment or query value for a client.
// Pure; thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace metastack::http {

// An http:// or https:// URL's parts, as the clients connect: "http[s]://HOST[:PORT][/PATH]"
// with HOST a name, an IPv4 address or [an IPv6 address]; the path is not kept.
struct HttpUrl {
  bool tls = false;       // https
  std::string host;       // without brackets: what to resolve, and what a certificate names
  std::string port;       // as given, else "80" or "443"
  std::string authority;  // HOST[:PORT] as given: the Host header
};
// kInvalidArgument for anything else, naming the URL.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct PathAndQuery {
  std::string path;   // decoded
  std::string query;  // raw, without the '?'
};

PathAndQuery SplitTarget(std::string_view target);

std::string PercentDecode(std::string_view s);

// Every byte outside RFC 3986's unreserved set (ALPHA DIGIT - . _ ~) as %XX (upper-case hex):
// safe as one path segment or one query value. PercentDecode gives `s` back.
std::string PercentEncode(std::string_view s);

// The value of the first parameter `name` of a query string ("a=1&b=x%20y"), percent-decoded
// with '+' as a space, as a WSGI application reads it; "" for a parameter without '='; nullopt
// when absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

// GCE's hanging GET, as a request's query asks for it:
// ?wait_for_change=true[&last_etag=E][&timeout_sec=N]. Read here, once, for every hop: the API
// (which holds the request) and the proxy and agent in front of it (which must wait for it).
struct WaitQuery {
  bool wait = false;  // wait_for_change=true (any other value, or none: no waiting)
  std::optional<std::string> last_etag;
  std::optional<int> timeout_sec;  // as given, when it is a whole number of 1 second or more
  bool bad_timeout = false;        // timeout_sec given but not such a number
};
WaitQuery ParseWaitQuery(std::string_view query);

// GCE documents no default for timeout_sec; its own guest agent (and OS Config agent) ask for 60.
inline constexpr int kDefaultWaitSeconds = 60;
// No configuration may let the API hold a request longer than this.
inline constexpr int kMaxWaitSeconds = 3600;

// How long an API may hold a request for `target` (a request target, path and query) before
// it answers: its timeout_sec (kDefaultWaitSeconds when absent, at most kMaxWaitSeconds) when
// it waits for a change, else zero. The hops in front of the API add this to their response
// timeout, so a waiting answer is never cut short on the way.
std::chrono::seconds HoldFor(std::string_view target);

}  // namespace metastack::http
