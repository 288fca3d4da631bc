#pragma once
// The head of a request (request line and header fields) as clients send it. Nova's eventlet
// and Neutron's haproxy accept lines ended by LF alone; Beast's parser wants CRLF. The server
// finds where a head ends, either way, before Beast parses it, and when it has a bare LF gives
// Beast the head with CRLF instead: the body, and anything pipelined after it, are never
// rewritten, and a bare CR stays for Beast to refuse. HeadScan and WithCrlf are pure; ReadHead
// is one connection's, on that connection's executor.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "http/asio.h"
#include "http/server.h"

namespace metastack::http {

struct HeadEnd {
  size_t size = 0;       // the head's bytes up to and including its empty line, as sent
  bool bare_lf = false;  // some line of it ends in LF without CR
};

// Finds the end of the head at the start of a buffer that grows as bytes arrive.
class HeadScan {
 public:
  // `data`: everything buffered so far, starting at the head (what an earlier call saw, and
  // more). Resumes where the last call stopped. The end: the first empty line ("\n" or
  // "\r\n"); nullopt while it has not arrived.
  std::optional<HeadEnd> Scan(std::string_view data);

 private:
  size_t line_start_ = 0;
  bool bare_lf_ = false;
};

// `head` with a CR put before every LF that has none.
std::string WithCrlf(std::string_view head);

// Reads until the buffer holds the whole head of the next request (as above), no
// more than the header limit of it as the client sends it (header_limit past that); a head with
// bare LFs is then given CRLF in the buffer, and the parser's limit raised by the CRs added.
// Errors as Beast's read gives them: a head cut short by the client's end is partial_message
// (a 400), a timeout or a reset the read's own error.
template <typename Stream>
asio::awaitable<beast::error_code> ReadHead(Stream& stream, beast::flat_buffer& buffer,
                                            bhttp::request_parser<bhttp::string_body>& parser,
                                            const ServerLimits& limits) {
  HeadScan scan;
  auto buffered = [&] {
    return std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size());
  };
  std::optional<HeadEnd> end;
  while (!(end = scan.Scan(buffered()))) {
    if (buffer.size() >= limits.header_bytes) co_return bhttp::error::header_limit;
    beast::error_code ec;
    size_t n = co_await stream.async_read_some(
        buffer.prepare(std::min<size_t>(4096, limits.header_bytes - buffer.size())),
        asio::redirect_error(asio::use_awaitable, ec));
    // The client's end before the head's: what Beast's read makes of it, a 400.
    if (ec == asio::error::eof) co_return bhttp::error::partial_message;
    if (ec) co_return ec;
    buffer.commit(n);
  }
  if (end->size > limits.header_bytes) co_return bhttp::error::header_limit;
  if (!end->bare_lf) co_return beast::error_code{};
  std::string rewritten = WithCrlf(buffered().substr(0, end->size));
  parser.header_limit(static_cast<std::uint32_t>(std::max(limits.header_bytes, rewritten.size())));
  rewritten += buffered().substr(end->size);
  buffer.consume(buffer.size());
  buffer.commit(asio::buffer_copy(buffer.prepare(rewritten.size()), asio::buffer(rewritten)));
  co_return beast::error_code{};
}

}  // namespace metastack::http
