#include "core/ownership.h"

#include <algorithm>
#include <cctype>

namespace metastack::core {

std::string CanonicalMac(std::string_view mac) {
  std::string lower(mac);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

std::optional<std::string> LinkLocalMac(const IpAddress& address) {
  const auto& b = address.bytes;
  if (address.version != 6 || b[0] != 0xfe || (b[1] & 0xc0) != 0x80) return std::nullopt;
  const uint8_t mac[6] = {static_cast<uint8_t>(b[8] ^ 0x02), b[9], b[10], b[13], b[14], b[15]};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (uint8_t byte : mac) {
    if (!text.empty()) text += ':';
    text += kHex[byte >> 4];
    text += kHex[byte & 0x0f];
  }
  return text;
}

bool OwnedAddresses::Contains(const IpAddress& address) const {
  IpAddress wanted = address.Unmapped();
  if (std::find(fixed.begin(), fixed.end(), wanted) != fixed.end()) return true;
  auto mac = LinkLocalMac(wanted);
  return mac && std::find(macs.begin(), macs.end(), *mac) != macs.end();
}

OwnedAddresses AddressesOf(const Instance& instance) {
  OwnedAddresses owned;
  for (const auto& port : instance.ports) {
    for (const auto& subnet : port.subnets)
      if (subnet.ip_address)
        if (auto ip = ParseIp(*subnet.ip_address)) owned.fixed.push_back(ip->Unmapped());
    owned.macs.push_back(CanonicalMac(port.mac));
  }
  return owned;
}

}  // namespace metastack::core
