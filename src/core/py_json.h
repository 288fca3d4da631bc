#pragma once
// Serialises JSON exactly as Python's json.dumps() does with its defaults, which is what Nova
// writes: insertion-ordered keys, ", " and ": " separators, ensure_ascii (every non-ASCII
// character as \uXXXX, astral characters as a surrogate pair, DEL as \u007f), lower-case hex,
// floats as Python's repr, and no trailing newline. Pure; thread-safe.

#include <nlohmann/json.hpp>
#include <string>

namespace metastack::core {

using Json = nlohmann::ordered_json;

std::string DumpPython(const Json& value);

// Appends one JSON string literal (with quotes) for UTF-8 input `s` in Python's ensure_ascii form.
void AppendPythonString(std::string& out, std::string_view s);

}  // namespace metastack::core
