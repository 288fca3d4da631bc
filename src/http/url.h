#pragma once
// Request targets as a WSGI server hands them to an application: the path percent-decoded
// (invalid escapes kept as written, '+' kept: it means space only in queries) and the query
// string apart. Pure; thread-safe.

#include <string>
#include <string_view>

namespace metastack::http {

struct Target {
  std::string path;   // decoded
  std::string query;  // raw, without the '?'
};

Target SplitTarget(std::string_view target);

std::string PercentDecode(std::string_view s);

}  // namespace metastack::http
