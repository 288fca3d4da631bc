#pragma once
// Small string helpers every module may use (base/ sees no third-party library). Pure;
// thread-safe.

#include <string>
#include <string_view>
#include <vector>

namespace metastack {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace, YAML's blanks).
std::string_view TrimBlanks(std::string_view s);

// The lines of `text`, split at '\n' (a '\r' before it is kept); a final line end starts no
// empty line. The views point into `text`.
std::vector<std::string_view> SplitLines(std::string_view text);

// ASCII case-insensitive equality (header names, volume labels).
bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b);

// The segments of a URL path as Python's posixpath.normpath leaves them: empty and "."
// segments dropped, ".." removing the one before it (never above the root). "/a//b/../c/" ->
// {"a", "c"}. What core::NormalizePath and the ns-proxy's view of the session token path
// (http::IsSessionTokenPath) share.
std::vector<std::string> PathSegments(std::string_view path);

}  // namespace metastack
