#pragma once
// Small string helpers every module may use (base/ sees no third-party library). Pure;
// thread-safe.

#include <string_view>

namespace metastack {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace, YAML's blanks).
std::string_view TrimBlanks(std::string_view s);

// ASCII case-insensitive equality (header names, volume labels).
bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b);

}  // namespace metastack
