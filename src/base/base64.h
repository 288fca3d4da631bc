#pragma once
// Standard base64 (RFC 4648, with padding, no line breaks), as Python's base64.b64encode.
// Pure; thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace metastack {

std::string Base64Encode(std::string_view bytes);
// Appends the encoding of `bytes` to `out` (one resize, no per-character appends).
void AppendBase64(std::string& out, std::string_view bytes);

// Strict decoding: the alphabet, correct padding and length; whitespace is not accepted.
// Returns nullopt on malformed input.
std::optional<std::string> Base64Decode(std::string_view text);

// Length of Base64Encode() of `n` bytes.
constexpr size_t Base64Length(size_t n) { return (n + 2) / 3 * 4; }

}  // namespace metastack
