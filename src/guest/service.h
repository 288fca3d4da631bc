#pragma once
// The metadata service, as a guest reaches it: plain HTTP/1.1 to 169.254.169.254:80 or
// [fe80::a9fe:a9fe%<interface>]:80, over POSIX sockets (no Asio: this module stays small
// enough to link statically into an initramfs).
//
// Each request has a connect timeout and a whole-answer timeout; a failed attempt (refused,
// timed out, reset, a 5xx) is retried up to `attempts` times with `retry_delay` between them.
// Before the first read, a session token is asked for as AWS IMDSv2 does (PUT /latest/api/token
// with X-aws-ec2-metadata-token-ttl-seconds); when the service grants one (200 and a token body),
// every later request carries it as X-aws-ec2-metadata-token; any other answer means the
// service has no sessions and requests go without. Blocking; thread-compatible.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

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
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One request: `method` `path` (starting with '/') with optional body, retried as above.
// kUnavailable / kTimeout when no attempt got an answer; any HTTP status is an answer.
Result<HttpAnswer> HttpRequest(const ServiceOptions& options, const std::string& method,
                               const std::string& path, const std::string& body = {},
                               const std::optional<std::string>& token = std::nullopt);

// The service as a Tree: Read("openstack/latest/meta_data.json") is GET /openstack/latest/
// meta_data.json; 404 is kNotFound; other non-200 answers are kUnavailable naming the status.
// The token (if any) is asked for once, on the first Read.
std::unique_ptr<Tree> ServiceTree(ServiceOptions options);

}  // namespace metastack::guest
