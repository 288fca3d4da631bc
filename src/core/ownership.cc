#include "core/ownership.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace metastack::core {

std::optional<IpAddress> Eui64LinkLocal(std::string_view mac) {
  if (!IsMacAddress(mac)) return std::nullopt;
  uint8_t m[6];
  for (size_t i = 0; i < 6; ++i)
    std::from_chars(mac.data() + 3 * i, mac.data() + 3 * i + 2, m[i], 16);
  IpAddress ip;
  ip.version = 6;
  ip.bytes = {0xfe, 0x80, 0,    0,    0,    0,    0,   0, static_cast<uint8_t>(m[0] ^ 0x02),
              m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
  return ip;
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
    std::string mac = port.mac;
    for (char& c : mac) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    owned.macs.push_back(std::move(mac));
  }
  return owned;
}

}  // namespace metastack::core
