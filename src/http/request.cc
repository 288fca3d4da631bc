// The parsed request: header access, the parser's limits, the checks the server makes of a
// header block beyond Beast's, and the request a hop sends upstream for it (apart from the
// serving code, so that request parsing and rewriting can be fuzzed without it).
#include "base/strings.h"
#include "http/server.h"
#include "http/upstream.h"

namespace metastack::http {

bool TransferEncodingAcceptable(const bhttp::request_header<>& h) {
  size_t n = h.count(bhttp::field::transfer_encoding);
  if (n == 0) return true;
  if (n > 1) return false;
  auto v = h[bhttp::field::transfer_encoding];
  std::string_view value = TrimBlanks(std::string_view(v.data(), v.size()));
  return beast::iequals(beast::string_view(value.data(), value.size()), "chunked");
}

std::string_view Request::Header(std::string_view name) const {
  auto it = message.find(beast::string_view(name.data(), name.size()));
  if (it == message.end()) return {};
  auto v = it->value();
  return TrimBlanks(std::string_view(v.data(), v.size()));
}

size_t Request::HeaderCount(std::string_view name) const {
  return message.count(beast::string_view(name.data(), name.size()));
}

void LimitParser(bhttp::request_parser<bhttp::string_body>& parser, const ServerLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  parser.body_limit(limits.body_bytes);
}

UpstreamRequest UpstreamRequestFor(const Request& request) {
  UpstreamRequest out{request.message.method(), request.message.target(), 11};
  if (request.message.method() == bhttp::verb::unknown)
    out.method_string(request.message.method_string());
  return out;
}

}  // namespace metastack::http
