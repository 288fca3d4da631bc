#include "core/py_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/utf8.h"

namespace metastack::core {
namespace {

constexpr char kLowerHex[] = "0123456789abcdef";

void AppendU16(std::string& out, unsigned unit) {
  out += "\\u";
  out += kLowerHex[(unit >> 12) & 0xf];
  out += kLowerHex[(unit >> 8) & 0xf];
  out += kLowerHex[(unit >> 4) & 0xf];
  out += kLowerHex[unit & 0xf];
}

// Python's float repr: the shortest digits that round-trip; scientific notation when the
// decimal exponent is < -4 or >= 16; always a '.0' or exponent so it reads back as a float.
void AppendPythonFloat(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-Infinity" : "Infinity";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // e.g. "-1.2345e+02"
  size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  int exponent = std::stoi(sci.substr(e + 1));
  bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  if (negative) out += '-';
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp;
    return;
  }
  if (exponent < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exponent - 1), '0');
    out += digits;
    return;
  }
  size_t int_len = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_len) {
    out += digits;
    out.append(int_len - digits.size(), '0');
    out += ".0";
  } else {
    out.append(digits, 0, int_len);
    out += '.';
    out.append(digits, int_len);
  }
}

void Dump(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      out += "null";
      return;
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(v.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(v.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      AppendPythonFloat(out, v.get<double>());
      return;
    case Json::value_t::string:
      AppendPythonString(out, v.get_ref<const std::string&>());
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ", ";
        first = false;
        Dump(out, item);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) out += ", ";
        first = false;
        AppendPythonString(out, key);
        out += ": ";
        Dump(out, item);
      }
      out += '}';
      return;
    }
    case Json::value_t::binary:
    case Json::value_t::discarded:
      out += "null";
      return;
  }
}

}  // namespace

void AppendPythonString(std::string& out, std::string_view s) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    // Input comes from nlohmann's parser or our own validated documents, so it is well formed;
    // a stray byte is passed through as U+FFFD.
    char32_t cp = NextCodePoint(s, i).value_or(kReplacementCharacter);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      AppendU16(out, cp);
    } else {
      char32_t v = cp - 0x10000;
      AppendU16(out, 0xd800 + (v >> 10));
      AppendU16(out, 0xdc00 + (v & 0x3ff));
    }
  }
  out += '"';
}

std::string DumpPython(const Json& value) {
  std::string out;
  Dump(out, value);
  return out;
}

}  // namespace metastack::core
