#include "core/instance.h"

#include <cctype>

#include "base/utf8.h"

namespace metastack::core {

std::optional<std::string> Subnet::EffectiveDhcpServer() const {
  if (dhcp_server) return dhcp_server;
  if (enable_dhcp) return gateway_ip;
  return std::nullopt;
}

namespace {

// Dot-separated labels of ASCII letters, digits and '-', each 1..63 characters, not starting or
// ending with '-', 253 characters in all.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t end = name.find('.', start);
    std::string_view label = name.substr(start, end == std::string_view::npos ? end : end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

// A character nova.utils.sanitize_hostname keeps: it drops what is outside Latin-1, turns
// ' ', '_' and '.' into '-', drops what is not Python's \w or '-', and lower-cases. Beyond
// ASCII that leaves the Latin-1 letters and digits in lower case: ª ² ³ µ ¹ º ¼ ½ ¾ and ß..ÿ
// but ÷.
bool IsSanitizedChar(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  switch (c) {
    case 0xAA:
    case 0xB2:
    case 0xB3:
    case 0xB5:
    case 0xB9:
    case 0xBA:
    case 0xBC:
    case 0xBD:
    case 0xBE:
      return true;
    default:
      return c >= 0xDF && c <= 0xFF && c != 0xF7;
  }
}

// What sanitize_hostname can make of a display name: 1..63 such characters (it truncates to
// 63 first, then strips '-' from both ends).
bool IsSanitizedHostname(std::string_view name) {
  size_t chars = 0;
  for (size_t i = 0; i < name.size(); ++chars) {
    auto c = NextCodePoint(name, i);
    if (!c || !IsSanitizedChar(*c)) return false;
  }
  return chars >= 1 && chars <= 63 && name.front() != '-' && name.back() != '-';
}

}  // namespace

bool IsValidHostname(std::string_view name) { return IsDnsName(name) || IsSanitizedHostname(name); }

bool IsValidUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

std::string_view HttpTokensName(HttpTokens policy) {
  return policy == HttpTokens::kRequired ? "required" : "optional";
}

std::optional<HttpTokens> ParseHttpTokens(std::string_view name) {
  if (name == "optional") return HttpTokens::kOptional;
  if (name == "required") return HttpTokens::kRequired;
  return std::nullopt;
}

}  // namespace metastack::core
