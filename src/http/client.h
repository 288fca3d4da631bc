#pragma once
// A simple blocking HTTP/1.1 client for command-line tools and tests: one request per call,
// a deadline on the whole exchange. Base URLs are "http://HOST[:PORT]", "https://HOST[:PORT]"
// (TLS as http/tls.h makes it) or "unix:/path/to.sock".
// Not for request paths of the services (they use pooled asynchronous connections).

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace metastack::http {

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ClientResponse {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(std::string_view name) const;
};

struct TlsClientOptions;  // http/tls.h

// kUnavailable when the server cannot be reached (or, over https, its certificate is refused,
// or it refuses ours: the message says why), kTimeout when it does not answer in time;
// kInvalidArgument for a URL of another form or `tls` files that cannot be used. `tls`: the
// CAs and client certificate for https (null: the system's CA store, no client certificate).
Result<ClientResponse> Fetch(const std::string& base_url, const ClientRequest& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             const TlsClientOptions* tls = nullptr);

}  // namespace metastack::http
