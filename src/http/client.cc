#include "http/client.h"

#include "http/asio.h"

namespace metastack::http {
namespace {

template <typename Stream>
asio::awaitable<void> Exchange(Stream& stream, const ClientRequest& request,
                               const std::string& host, ClientResponse& out, beast::error_code& ec,
                               std::chrono::milliseconds timeout) {
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(request.method), request.target, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "metastack");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH")
    req.prepare_payload();
  stream.expires_after(timeout);
  co_await bhttp::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (request.method == "HEAD") parser.skip(true);
  co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  auto res = parser.release();
  out.status = res.result_int();
  for (const auto& f : res)
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
}

}  // namespace

std::string ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, beast::string_view(name.data(), name.size()))) return v;
  return "";
}

Result<ClientResponse> Fetch(const std::string& base_url, const ClientRequest& request,
                             std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  ClientResponse out;
  beast::error_code ec;
  std::string where = base_url;
  // The coroutine lambdas are named so their captures outlive ioc.run(): a coroutine made
  // from a temporary lambda would read its captures after the temporary is gone.
  std::string path, host, port, hostport;
  auto over_unix = [&]() -> asio::awaitable<void> {
    beast::basic_stream<asio::local::stream_protocol> stream(ioc);
    stream.expires_after(timeout);
    co_await stream.async_connect(asio::local::stream_protocol::endpoint(path),
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await Exchange(stream, request, "localhost", out, ec, timeout);
  };
  auto over_tcp = [&]() -> asio::awaitable<void> {
    asio::ip::tcp::resolver resolver(ioc);
    auto results =
        co_await resolver.async_resolve(host, port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    co_await stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await Exchange(stream, request, hostport, out, ec, timeout);
  };
  if (base_url.starts_with("unix:")) {
    path = base_url.substr(5);
    asio::co_spawn(ioc, over_unix(), asio::detached);
  } else if (base_url.starts_with("http://")) {
    hostport = base_url.substr(7);
    if (auto slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
    size_t colon = hostport.rfind(':');
    host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
    port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    asio::co_spawn(ioc, over_tcp(), asio::detached);
  } else {
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "expected http://HOST:PORT or unix:PATH: " + base_url));
  }
  ioc.run();
  if (ec == beast::error::timeout)
    return std::unexpected(MakeError(ErrorCode::kTimeout, where + ": no answer in time"));
  if (ec) return std::unexpected(MakeError(ErrorCode::kUnavailable, where + ": " + ec.message()));
  return out;
}

}  // namespace metastack::http
