#pragma once
// Raw bytes to requests as http::Server parses them: each request's head found and, with bare
// LFs, given CRLF (http/request_head.h), then one parser per request with the server's limits
// (http::LimitParser), pipelined requests read one after another from the same bytes, which
// arrive `piece` bytes at a time (the server reads what the socket has). Stops at the first
// error, as the server answers it and closes.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "fuzz/check.h"
#include "http/request_head.h"
#include "http/server.h"

namespace metastack::fuzz {

// Calls on_request(bhttp::request<string_body>&&) for each complete request; returns the error
// that stopped parsing (none when the bytes ran out between or inside requests).
template <typename OnRequest>
beast::error_code ParseRequests(std::string_view input, size_t piece,
                                const http::ServerLimits& limits, OnRequest&& on_request,
                                int max_requests = 8) {
  piece = std::max<size_t>(piece, 1);
  size_t pos = 0;
  std::string rewritten;  // the bytes from a head with bare LFs on, that head with CRLF
  for (int i = 0; i < max_requests && pos < input.size(); ++i) {
    bhttp::request_parser<bhttp::string_body> parser;
    http::LimitParser(parser, limits);
    auto end = http::HeadScan().Scan(input.substr(pos));
    if (!end) {
      if (input.size() - pos >= limits.header_bytes) return bhttp::error::header_limit;
      return {};  // the peer stopped sending
    }
    if (end->size > limits.header_bytes) return bhttp::error::header_limit;
    if (end->bare_lf) {
      std::string next = http::WithCrlf(input.substr(pos, end->size));
      FUZZ_CHECK(http::HeadScan().Scan(next) && !http::HeadScan().Scan(next)->bare_lf,
                 "a head with CRLF put in still has a bare LF");
      parser.header_limit(static_cast<std::uint32_t>(std::max(limits.header_bytes, next.size())));
      next += input.substr(pos + end->size);
      rewritten = std::move(next);
      input = rewritten;
      pos = 0;
    }
    beast::error_code ec;
    size_t window = std::min(piece, input.size() - pos);
    while (!parser.is_done()) {
      size_t used = parser.put(asio::buffer(input.data() + pos, window), ec);
      FUZZ_CHECK(used <= window, "the parser consumed more than it was given");
      pos += used;
      window -= used;
      if (ec == bhttp::error::need_more || (!ec && used == 0)) {
        ec = {};
        if (pos + window == input.size()) return {};  // the peer stopped sending
        window = std::min(window + piece, input.size() - pos);
        continue;
      }
      if (ec) return ec;
      if (parser.is_header_done() && !http::TransferEncodingAcceptable(parser.get()))
        return bhttp::error::bad_transfer_encoding;  // as the server refuses it
      if (window == 0 && !parser.is_done()) {
        if (pos == input.size()) return {};
        window = std::min(piece, input.size() - pos);
      }
    }
    FUZZ_CHECK(parser.get().body().size() <= limits.body_bytes, "a body over the limit parsed");
    on_request(parser.release());
  }
  return {};
}

}  // namespace metastack::fuzz
