#include "core/instance.h"

#include <cctype>

namespace metastack::core {

std::optional<std::string> Subnet::EffectiveDhcpServer() const {
  if (dhcp_server) return dhcp_server;
  if (enable_dhcp) return gateway_ip;
  return std::nullopt;
}

bool IsValidHostname(std::string_view name) {
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

bool IsValidUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

}  // namespace metastack::core
