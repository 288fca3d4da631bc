#pragma once
// The metadata service, as a guest reaches it: plain HTTP/1.1 to 169.254.169.254:80 or
// [fe80::a9fe:a9fe%<interface>]:80, over POSIX sockets (no Asio: this module stays small
// enough to link statically into an initramfs; and no DNS: a static binary's getaddrinfo loads
// glibc's NSS modules at run time, which an initramfs lacks, so the host is an address literal).
//
// Each request opens its own connection and sends "Connection: close": a boot makes a few dozen
// requests at most, and a fresh connection per request keeps the client free of keep-alive
// state. The connect must finish within `connect_timeout`, and the whole attempt (connect,
// request, the complete answer) within `request_timeout`. A failed attempt (refused, unreachable,
// timed out, reset, a malformed answer, a 5xx other than 501, a 429 Too Many Requests) is
// followed by another, up to `attempts` in all, `retry_delay` apart (each retry is logged at
// info); another 4xx or a 501 (Not Implemented: the method never will be) is an answer and is
// not retried, nor is a body over `max_body_bytes`.
//
// Before the first read, a session token is asked for as AWS IMDSv2 does (PUT /latest/api/token
// with X-aws-ec2-metadata-token-ttl-seconds); when the service grants one (200 and a token body),
// every later request carries it as X-aws-ec2-metadata-token; any other answer (or none) means
// the service has no sessions and requests go without (logged at debug). A 401 on a read made
// with a token asks for a new token once and repeats that read.
//
// Errors name the URL and the reason, as a user reads them:
//   "http://169.254.169.254/openstack/latest/meta_data.json: connection refused"
// Blocking; thread-compatible (the functions are thread-safe; one ServiceTree per thread).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "guest/tree.h"

namespace metastack::guest {

struct ServiceOptions {
  // "http://169.254.169.254" or "http://[fe80::a9fe:a9fe%eth0]"; a port may follow the host.
  std::string base_url = "http://169.254.169.254";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
  int attempts = 3;
  std::chrono::milliseconds retry_delay{500};
  int token_ttl_seconds = 300;
  // A larger answer body is kTooLarge: metadata documents are small, and the cap only stops a
  // broken service from exhausting the guest's memory.
  size_t max_body_bytes = size_t{64} << 20;
};

// The session token's headers (AWS IMDSv2).
inline constexpr std::string_view kTokenPath = "/latest/api/token";
inline constexpr std::string_view kTokenHeader = "X-aws-ec2-metadata-token";
inline constexpr std::string_view kTokenTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";

// A base URL taken apart: "http://" HOST [":" PORT] ["/"], HOST an IPv4 literal or a bracketed
// IPv6 literal; a link-local IPv6 address needs a zone ("%eth0", or an interface index "%2"),
// and only a link-local address may have one.
struct ServiceUrl {
  int family = 0;         // AF_INET or AF_INET6
  std::string address;    // "169.254.169.254", "fe80::a9fe:a9fe" (no brackets, no zone)
  uint32_t scope_id = 0;  // the zone's interface index; 0 when there is none
  uint16_t port = 80;
  std::string host;  // the Host header: "169.254.169.254", "[fe80::a9fe:a9fe]" (no zone),
                     // with ":port" when the port is not 80
  std::string base;  // the URL as errors name it, without a trailing '/'
};

// kInvalidArgument "<url>: <reason>" for anything else (a host name, a path, a bad port, an
// unknown interface).
Result<ServiceUrl> ParseServiceUrl(std::string_view url);

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One request: `method` `path` (starting with '/') with optional body, retried as above.
// kUnavailable / kTimeout when no attempt got an answer (the last attempt's failure); any HTTP
// status is an answer (a 5xx after the last attempt too). kTooLarge for a body over the cap;
// kInvalidArgument for a bad URL, path or token.
Result<HttpAnswer> HttpRequest(const ServiceOptions& options, const std::string& method,
                               const std::string& path, const std::string& body = {},
                               const std::optional<std::string>& token = std::nullopt);

// The service as a Tree: Read("openstack/latest/meta_data.json") is GET /openstack/latest/
// meta_data.json; 404 is kNotFound; other non-200 answers are kUnavailable naming the status
// ("<url>: status 500"). A path with an empty, "." or ".." component is kInvalidArgument, as in
// DirectoryTree. The token (if any) is asked for once, on the first Read.
class ServiceTreeBase : public Tree {
 public:
  // The session token the service granted (nullopt before the first Read, or when it granted
  // none): for requests made beside the tree (the password's GET and POST) under the same
  // session.
  virtual std::optional<std::string> token() const = 0;
};
std::unique_ptr<ServiceTreeBase> ServiceTree(ServiceOptions options);

}  // namespace metastack::guest
