#include "core/ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace metastack::core {

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    ip.version = 4;
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  } else {
    ip.version = 6;
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  }
  return ip;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(version == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::Unmapped() const {
  if (version != 6) return *this;
  for (int i = 0; i < 10; ++i)
    if (bytes[i] != 0) return *this;
  if (bytes[10] != 0xff || bytes[11] != 0xff) return *this;
  IpAddress v4;
  v4.version = 4;
  for (int i = 0; i < 4; ++i) v4.bytes[i] = bytes[12 + i];
  return v4;
}

std::optional<Cidr> ParseCidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = ParseIp(text.substr(0, slash));
  if (!ip) return std::nullopt;
  std::string_view p = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (ec != std::errc() || end != p.data() + p.size() || p.empty() || p.size() > 3)
    return std::nullopt;
  if (prefix < 0 || prefix > ip->Width()) return std::nullopt;
  return Cidr{*ip, prefix};
}

IpAddress Cidr::Netmask() const {
  IpAddress m;
  m.version = address.version;
  int bits = prefix;
  for (int i = 0; i < address.Width() / 8; ++i) {
    int take = bits >= 8 ? 8 : bits;
    m.bytes[i] = static_cast<uint8_t>(take == 0 ? 0 : (0xff << (8 - take)) & 0xff);
    bits -= take;
  }
  return m;
}

IpAddress Cidr::Network() const {
  IpAddress n = address;
  IpAddress m = Netmask();
  for (int i = 0; i < 16; ++i) n.bytes[i] &= m.bytes[i];
  return n;
}

std::optional<IpAddress> Cidr::Broadcast() const {
  if (address.Width() - prefix <= 1) return std::nullopt;
  IpAddress b = address;
  IpAddress m = Netmask();
  for (int i = 0; i < address.Width() / 8; ++i) b.bytes[i] |= static_cast<uint8_t>(~m.bytes[i]);
  return b;
}

bool Cidr::Contains(const IpAddress& ip) const {
  if (ip.version != address.version) return false;
  IpAddress m = Netmask();
  for (int i = 0; i < 16; ++i)
    if ((ip.bytes[i] & m.bytes[i]) != (address.bytes[i] & m.bytes[i])) return false;
  return true;
}

bool InAnyOf(const IpAddress& ip, std::span<const Cidr> cidrs) {
  IpAddress unmapped = ip.Unmapped();
  for (const auto& cidr : cidrs)
    if (cidr.Contains(unmapped)) return true;
  return false;
}

std::string_view FirstForwardedFor(std::string_view list) {
  list = list.substr(0, list.find(','));
  while (!list.empty() && list.front() == ' ') list.remove_prefix(1);
  while (!list.empty() && list.back() == ' ') list.remove_suffix(1);
  return list;
}

std::optional<ForwardedClient> SkipTrustedHops(std::string_view list,
                                               std::span<const Cidr> trusted) {
  while (!list.empty()) {
    size_t comma = list.rfind(',');
    std::string_view item =
        FirstForwardedFor(comma == std::string_view::npos ? list : list.substr(comma + 1));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
    auto ip = ParseIp(item);
    if (!ip || !InAnyOf(*ip, trusted)) return ForwardedClient{item, list};
  }
  return std::nullopt;
}

bool IsMacAddress(std::string_view text) {
  if (text.size() != 17) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i % 3 == 2) {
      if (c != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace metastack::core
