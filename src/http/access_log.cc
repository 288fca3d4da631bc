#include "http/access_log.h"

#include <cstdio>

namespace metastack::http {
namespace {

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v)
    if (c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\') return true;
  return false;
}

void AppendValue(std::string& out, std::string_view v) {
  if (!NeedsQuotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < ' ' || c >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace

std::string FormatAccessLog(const AccessLogEntry& e) {
  std::string out;
  out.reserve(128 + e.path.size());
  const std::pair<std::string_view, std::string_view> text[] = {{"listener=", e.listener},
                                                                {" client=", e.client},
                                                                {" instance=", e.instance_id},
                                                                {" method=", e.method},
                                                                {" path=", e.path}};
  for (const auto& [key, value] : text) {
    out += key;
    AppendValue(out, value);
  }
  char tail[64];
  std::snprintf(tail, sizeof tail, " status=%u ms=%.3f", e.status, e.duration_ms);
  out += tail;
  return out;
}

}  // namespace metastack::http
