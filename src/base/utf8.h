#pragma once
// UTF-8 decoding and encoding, the one implementation every module uses. Decoding is strict
// (RFC 3629): overlong forms, encoded surrogates (U+D800..U+DFFF) and code points above
// U+10FFFF are malformed, as are truncated sequences and stray continuation bytes.
// Pure; thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace metastack {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// Decodes the character that starts at s[i] (i < s.size()) and advances `i` past it. For a
// malformed sequence: nullopt, and `i` advanced past the longest prefix of it that could have
// begun a character (at least one byte), as Unicode's "maximal subpart" practice (and Python's
// errors="replace") does; callers that replace write one U+FFFD per nullopt.
std::optional<char32_t> NextCodePoint(std::string_view s, size_t& i);

// Whether all of `s` decodes.
bool IsValidUtf8(std::string_view s);

// The number of characters of valid UTF-8 `s` (its bytes that do not continue a character), as
// Python's len() counts them and as they take columns in a table.
size_t Utf8Length(std::string_view s);

// Appends `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void AppendUtf8(std::string& out, char32_t cp);

}  // namespace metastack
