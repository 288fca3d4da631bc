#pragma once
// An HTTP answer as handlers return it: the server formats the status line, Date and
// Content-Length, and writes `body` (none for HEAD). A plain value, free of Asio and Beast, so
// that code which only builds answers (http::ErrorResponse, the CLI) need not include them.

#include <string>
#include <utility>
#include <vector>

namespace metastack::http {

struct Response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool close = false;  // close the connection after this answer
  // > 0: this answer leaves a TCP listener with this IP TTL / IPv6 hop limit (the session token
  // answer: 1, so that it cannot be relayed past the guest's own host). The socket keeps it
  // until the connection's next answer is written (the client has read this one by then, so a
  // retransmission of it still carries it) and then gets its own value back.
  int hop_limit = 0;
};

}  // namespace metastack::http
