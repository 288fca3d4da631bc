#include "guest/simple_yaml.h"

#include <nlohmann/json.hpp>

#include "base/strings.h"

namespace metastack::guest {
namespace {

std::unexpected<Error> LineError(size_t line, const std::string& what) {
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument, "line " + std::to_string(line) + ": " + what));
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Blanks, and the CR of a CRLF line end.
std::string_view TrimLine(std::string_view s) {
  s = TrimBlanks(s);
  if (!s.empty() && s.back() == '\r') s = TrimBlanks(s.substr(0, s.size() - 1));
  return s;
}

// The rest of a line after a value: nothing, or a comment.
bool OnlyComment(std::string_view rest) {
  rest = TrimLine(rest);
  return rest.empty() || rest.front() == '#';
}

Result<std::string> DoubleQuoted(std::string_view s, size_t line) {
  std::string out;
  size_t i = 1;
  for (; i < s.size() && s[i] != '"'; ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return LineError(line, "unterminated escape");
    char e = s[i];
    static constexpr std::string_view kSimple = "0abtnvfre \"/\\N_LP";
    static const char* kValues[] = {
        "\0", "\a", "\b", "\t", "\n",       "\v",       "\f",           "\r",          "\x1b",
        " ",  "\"", "/",  "\\", "\xc2\x85", "\xc2\xa0", "\xe2\x80\xa8", "\xe2\x80\xa9"};
    if (auto at = kSimple.find(e); at != std::string_view::npos) {
      if (e == '0')
        out += '\0';
      else
        out += kValues[at];
      continue;
    }
    size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0 || i + digits >= s.size())
      return LineError(line, std::string("unknown escape \\") + e);
    uint32_t cp = 0;
    for (size_t k = 1; k <= digits; ++k) {
      char h = s[i + k];
      int v = h >= '0' && h <= '9'   ? h - '0'
              : h >= 'a' && h <= 'f' ? h - 'a' + 10
              : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                     : -1;
      if (v < 0) return LineError(line, "bad hex digit in an escape");
      cp = cp << 4 | static_cast<uint32_t>(v);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return LineError(line, "escape is not a Unicode scalar value");
    AppendUtf8(out, cp);
    i += digits;
  }
  if (i >= s.size()) return LineError(line, "unterminated double-quoted scalar");
  if (!OnlyComment(s.substr(i + 1))) return LineError(line, "text after a quoted scalar");
  return out;
}

Result<std::string> Scalar(std::string_view s, size_t line) {
  s = TrimLine(s);
  if (s.empty()) return std::string();
  if (s.front() == '"') return DoubleQuoted(s, line);
  if (s.front() == '\'') {
    std::string out;
    size_t i = 1;
    for (; i < s.size(); ++i) {
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      out += s[i];
    }
    if (i >= s.size()) return LineError(line, "unterminated single-quoted scalar");
    if (!OnlyComment(s.substr(i + 1))) return LineError(line, "text after a quoted scalar");
    return out;
  }
  static constexpr std::string_view kUnsupported = "[{&*!|>%@`";
  if (kUnsupported.find(s.front()) != std::string_view::npos)
    return LineError(line,
                     "unsupported YAML (flow collections, anchors, tags and block "
                     "scalars are not read)");
  if (auto hash = s.find(" #"); hash != std::string_view::npos) s = TrimLine(s.substr(0, hash));
  return std::string(s);
}

Result<FlatYaml> FromJson(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not a JSON object"));
  FlatYaml out;
  for (const auto& [key, value] : doc.items()) {
    auto one = [](const nlohmann::json& v) {
      return v.is_string() ? v.get<std::string>() : v.dump();
    };
    if (value.is_array()) {
      for (const auto& v : value) out[key].push_back(one(v));
      out.try_emplace(key);
    } else if (!value.is_object()) {
      out[key] = {one(value)};
    }
  }
  return out;
}

}  // namespace

Result<FlatYaml> ParseFlatYaml(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') return FromJson(text);
  FlatYaml out;
  std::string list_key;  // the key whose block list is open
  size_t line_no = 0;
  for (std::string_view line : SplitLines(text)) {
    ++line_no;
    std::string_view body = TrimLine(line);
    if (body.empty() || body.front() == '#' || body == "---") continue;
    if (body == "...") break;
    bool indented = line.front() == ' ' || line.front() == '\t';
    if (body.starts_with("- ") || body == "-") {
      if (list_key.empty()) return LineError(line_no, "a list item outside a key's list");
      METASTACK_ASSIGN_OR_RETURN(std::string item, Scalar(body.substr(1), line_no));
      out[list_key].push_back(std::move(item));
      continue;
    }
    if (indented) return LineError(line_no, "nested mappings are not read");
    size_t colon = body.find(": ");
    if (colon == std::string_view::npos && body.back() == ':') colon = body.size() - 1;
    if (colon == std::string_view::npos || colon == 0)
      return LineError(line_no, "expected 'key: value'");
    METASTACK_ASSIGN_OR_RETURN(std::string key, Scalar(body.substr(0, colon), line_no));
    if (out.contains(key)) return LineError(line_no, "duplicate key '" + key + "'");
    std::string_view rest = TrimLine(body.substr(colon + 1));
    if (OnlyComment(rest)) {
      out[key];  // a list follows, or the value is null
      list_key = key;
      continue;
    }
    list_key.clear();
    METASTACK_ASSIGN_OR_RETURN(std::string value, Scalar(rest, line_no));
    out[key] = {std::move(value)};
  }
  return out;
}

}  // namespace metastack::guest
