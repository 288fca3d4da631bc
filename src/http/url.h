#pragma once
// Request targets as a WSGI server hands them to an application: the path percent-decoded
// (invalid escapes kept as written, '+' kept: it means space only in queries) and the query
// string apart; and the percent-encoding of a path segment or query value for a client.
// Pure; thread-safe.

#include <string>
#include <string_view>

namespace metastack::http {

struct PathAndQuery {
  std::string path;   // decoded
  std::string query;  // raw, without the '?'
};

PathAndQuery SplitTarget(std::string_view target);

std::string PercentDecode(std::string_view s);

// Every byte outside RFC 3986's unreserved set (ALPHA DIGIT - . _ ~) as %XX (upper-case hex):
// safe as one path segment or one query value. PercentDecode gives `s` back.
std::string PercentEncode(std::string_view s);

}  // namespace metastack::http
