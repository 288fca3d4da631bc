#pragma once
// A simple blocking HTTP/1.1 client for command-line tools and tests: one request per call,
// a deadline on the whole exchange. Base URLs are "http://HOST:PORT" or "unix:/path/to.sock".
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

// kUnavailable when the server cannot be reached, kTimeout when it does not answer in time.
Result<ClientResponse> Fetch(const std::string& base_url, const ClientRequest& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace metastack::http
