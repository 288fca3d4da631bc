#include "net/dhcp_options.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "net/router_metadata.h"

namespace metastack::net {
namespace {

bool AllOf(std::string_view s, std::string_view extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

// An IPv4 address inside `net` that is neither its network nor its broadcast address.
Status NeedHostIn(const Ipv4Net& net, std::string_view ip, std::string field) {
  auto a = ParseIpv4(ip);
  if (!a) return InvalidField(std::move(field), a.error().message);
  const uint32_t broadcast = net.address | ~net.Mask();
  if (!net.Contains(*a) || (net.prefix < 31 && (*a == net.address || *a == broadcast)))
    return InvalidField(std::move(field), std::string(ip) + " is not a host address in " +
                                              FormatIpv4(net.address) + "/" +
                                              std::to_string(net.prefix));
  return Ok();
}

}  // namespace

Result<uint32_t> ParseIpv4(std::string_view text) {
  in_addr a{};
  if (text.size() > 15 || ::inet_pton(AF_INET, std::string(text).c_str(), &a) != 1)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "not an IPv4 address: \"" + std::string(text) + "\""));
  return ntohl(a.s_addr);
}

std::string FormatIpv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

Result<Ipv4Net> ParseIpv4Net(std::string_view text) {
  auto bad = [&] {
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "not an IPv4 CIDR: \"" + std::string(text) + "\""));
  };
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  auto ip = ParseIpv4(text.substr(0, slash));
  std::string_view bits = text.substr(slash + 1);
  if (!ip || bits.empty() || bits.size() > 2 ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad();
  int prefix = std::stoi(std::string(bits));
  if (prefix > 32) return bad();
  Ipv4Net net{0, prefix};
  net.address = *ip & net.Mask();
  return net;
}

Status ValidateInterfaceName(std::string_view name, std::string_view field) {
  if (name.empty() || name.size() > 15 || !AllOf(name, "_.-@"))
    return InvalidField(std::string(field), "1-15 of A-Z a-z 0-9 _ . - @");
  return Ok();
}

Status ValidateDhcpSubnet(const DhcpSubnet& s) {
  METASTACK_RETURN_IF_ERROR(ValidateInterfaceName(s.interface));
  auto net = ParseIpv4Net(s.subnet);
  if (!net) return InvalidField("subnet", net.error().message);
  if (net->prefix > 30) return InvalidField("subnet", "prefix longer than /30");
  METASTACK_RETURN_IF_ERROR(NeedHostIn(*net, s.dhcp_ip, "dhcp_ip"));
  if (!s.gateway.empty()) {
    METASTACK_RETURN_IF_ERROR(NeedHostIn(*net, s.gateway, "gateway"));
    if (*ParseIpv4(s.gateway) == *ParseIpv4(s.dhcp_ip))
      return InvalidField("gateway", "is the DHCP port's own address");
  }
  return Ok();
}

std::string SubnetTag(const DhcpSubnet& s) {
  auto net = ParseIpv4Net(s.subnet);
  if (!net) return "subnet-invalid";
  return "subnet-" + FormatIpv4(net->address) + "-" + std::to_string(net->prefix);
}

std::vector<std::string> MetadataOptionLines(const DhcpSubnet& s, std::string_view tag) {
  const std::string t = "tag:" + std::string(tag) + ",";
  std::string routes = std::string(kMetadataAddress) + "/32," + s.dhcp_ip;
  if (!s.gateway.empty()) routes += ",0.0.0.0/0," + s.gateway;
  std::vector<std::string> lines = {t + "option:classless-static-route," + routes,
                                    t + "249," + routes};
  if (!s.gateway.empty()) lines.push_back(t + "option:router," + s.gateway);
  return lines;
}

Result<DhcpHost> ParseDhcpHost(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    parts.emplace_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  auto bad = [&](std::string why) {
    return InvalidField("host", "\"" + std::string(text) + "\": " + why);
  };
  if (parts.size() < 2 || parts.size() > 3) return bad("expected MAC,IP[,NAME]");
  DhcpHost h{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  std::transform(h.mac.begin(), h.mac.end(), h.mac.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool mac_ok = h.mac.size() == 17;
  for (size_t i = 0; mac_ok && i < h.mac.size(); ++i)
    mac_ok = i % 3 == 2 ? h.mac[i] == ':' : std::isxdigit(static_cast<unsigned char>(h.mac[i]));
  if (!mac_ok) return bad("not a MAC address: " + parts[0]);
  if (!ParseIpv4(h.ip)) return bad("not an IPv4 address: " + h.ip);
  if (!h.name.empty() && (h.name.size() > 253 || !AllOf(h.name, "-.")))
    return bad("not a host name: " + h.name);
  return h;
}

std::string HostLine(const DhcpHost& h) {
  return h.name.empty() ? h.mac + "," + h.ip : h.mac + "," + h.name + "," + h.ip;
}

Status ValidateDnsmasqSettings(const DhcpSubnet& s, const DnsmasqSettings& d) {
  METASTACK_RETURN_IF_ERROR(ValidateDhcpSubnet(s));
  auto net = *ParseIpv4Net(s.subnet);
  for (size_t i = 0; i < d.hosts.size(); ++i)
    METASTACK_RETURN_IF_ERROR(
        NeedHostIn(net, d.hosts[i].ip, "hosts[" + std::to_string(i) + "].ip"));
  if (d.range_start.empty() != d.range_end.empty())
    return InvalidField("range", "give both the first and the last address");
  if (!d.range_start.empty()) {
    METASTACK_RETURN_IF_ERROR(NeedHostIn(net, d.range_start, "range"));
    METASTACK_RETURN_IF_ERROR(NeedHostIn(net, d.range_end, "range"));
    if (*ParseIpv4(d.range_start) > *ParseIpv4(d.range_end))
      return InvalidField("range", "first address after the last");
  } else if (d.hosts.empty()) {
    return InvalidField("hosts",
                        "a static range hands out nothing without hosts; give hosts or a range");
  }
  if (d.lease_time.count() < 120)
    return InvalidField("lease_time", "at least 120 s (dnsmasq's minimum)");
  if (!d.domain.empty() && !AllOf(d.domain, "-."))
    return InvalidField("domain", "not a domain name: " + d.domain);
  return Ok();
}

DnsmasqFiles DnsmasqFiles::In(const std::string& dir) {
  return {dir + "/pid", dir + "/host", dir + "/opts", dir + "/leases", dir + "/dnsmasq.log"};
}

std::vector<std::string> DnsmasqCommandLine(const DhcpSubnet& s, const DnsmasqSettings& d,
                                            const DnsmasqFiles& files) {
  const Ipv4Net net = *ParseIpv4Net(s.subnet);
  const std::string mask = FormatIpv4(net.Mask());
  const std::string lease = std::to_string(d.lease_time.count()) + "s";
  std::string range = "--dhcp-range=set:" + SubnetTag(s) + ",";
  range += d.range_start.empty() ? FormatIpv4(net.address) + ",static"
                                 : d.range_start + "," + d.range_end;
  range += "," + mask + "," + lease;
  std::vector<std::string> argv = {
      d.binary,
      "--no-hosts",
      "--no-resolv",
      "--port=0",
      "--pid-file=" + files.pid,
      "--dhcp-hostsfile=" + files.hosts,
      "--dhcp-optsfile=" + files.opts,
      "--dhcp-leasefile=" + files.leases,
      "--log-facility=" + files.log,
      "--bind-dynamic",
      "--interface=" + s.interface,
      "--except-interface=lo",
      range,
      "--dhcp-lease-max=" + std::to_string(uint64_t{1} << (32 - net.prefix)),
      "--conf-file=/dev/null",
  };
  if (!d.domain.empty()) argv.push_back("--domain=" + d.domain);
  return argv;
}

}  // namespace metastack::net
