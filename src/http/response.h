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
};

}  // namespace metastack::http
