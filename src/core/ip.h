#pragma once
// IPv4/IPv6 addresses and CIDR prefixes: parsing, canonical text (as netaddr prints it: RFC 5952
// compression, v4-mapped tail in dotted form), netmasks, network and broadcast addresses.
// Pure value types; thread-compatible.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace metastack::core {

struct IpAddress {
  int version = 4;                  // 4 or 6
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

  std::string ToString() const;
  int Width() const { return version == 4 ? 32 : 128; }
  bool operator==(const IpAddress&) const = default;
  // For an IPv4-mapped IPv6 address (::ffff:a.b.c.d), the IPv4 address; otherwise itself.
  IpAddress Unmapped() const;
};

std::optional<IpAddress> ParseIp(std::string_view text);

struct Cidr {
  IpAddress address;  // as written (may have host bits set)
  int prefix = 0;

  IpAddress Network() const;
  IpAddress Netmask() const;
  // None for prefixes that leave fewer than two host bits, as netaddr.
  std::optional<IpAddress> Broadcast() const;
  bool Contains(const IpAddress& ip) const;
};

// "a.b.c.d/n" or "x::y/n"; the prefix is required.
std::optional<Cidr> ParseCidr(std::string_view text);

// Whether `ip` (an IPv4-mapped address taken as its IPv4 address) lies in one of `cidrs`.
bool InAnyOf(const IpAddress& ip, std::span<const Cidr> cidrs);

// The first item of an X-Forwarded-For list, spaces trimmed.
std::string_view FirstForwardedFor(std::string_view list);

// An X-Forwarded-For list read from the right past the hops in `trusted` (the proxies an
// operator trusts to append the address they saw): the first item that is not an address in
// `trusted` (spaces trimmed; it may not be an address at all), and the list left of it, which
// whoever sent that item wrote. nullopt when every item is a trusted hop's.
struct ForwardedClient {
  std::string_view client;
  std::string_view before;
};
std::optional<ForwardedClient> SkipTrustedHops(std::string_view list,
                                               std::span<const Cidr> trusted);

// "fa:16:3e:12:34:56": six hex pairs separated by ':'.
bool IsMacAddress(std::string_view text);

}  // namespace metastack::core
