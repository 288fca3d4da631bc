#include "core/ownership.h"

#include <charconv>

namespace metastack::core {

std::optional<IpAddress> Eui64LinkLocal(std::string_view mac) {
  if (!IsMacAddress(mac)) return std::nullopt;
  uint8_t m[6];
  for (size_t i = 0; i < 6; ++i)
    std::from_chars(mac.data() + 3 * i, mac.data() + 3 * i + 2, m[i], 16);
  IpAddress ip;
  ip.version = 6;
  ip.bytes = {0xfe, 0x80, 0, 0, 0, 0, 0, 0,
              static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
  return ip;
}

bool HasFixedIps(const Instance& instance) {
  for (const auto& port : instance.ports)
    for (const auto& subnet : port.subnets)
      if (subnet.ip_address) return true;
  return false;
}

bool OwnsAddress(const Instance& instance, const IpAddress& address) {
  IpAddress wanted = address.Unmapped();
  for (const auto& port : instance.ports) {
    for (const auto& subnet : port.subnets) {
      if (!subnet.ip_address) continue;
      auto fixed = ParseIp(*subnet.ip_address);
      if (fixed && fixed->Unmapped() == wanted) return true;
    }
    if (wanted.version == 6 && Eui64LinkLocal(port.mac) == wanted) return true;
  }
  return false;
}

}  // namespace metastack::core
