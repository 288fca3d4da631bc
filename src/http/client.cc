#include "http/client.h"

#include "http/asio.h"
#include "http/tls.h"
#include "http/url.h"

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
  beast::get_lowest_layer(stream).expires_after(timeout);
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
                             std::chrono::milliseconds timeout, const TlsClientOptions* tls) {
  asio::io_context ioc;
  ClientResponse out;
  beast::error_code ec;
  std::string failure;  // under TLS: why, as TlsFailure says it
  // The coroutine lambdas are named so their captures outlive ioc.run(): a coroutine made
  // from a temporary lambda would read its captures after the temporary is gone.
  std::string path;
  HttpUrl url;
  std::shared_ptr<ssl::context> context;
  auto over_unix = [&]() -> asio::awaitable<void> {
    beast::basic_stream<asio::local::stream_protocol> stream(ioc);
    stream.expires_after(timeout);
    co_await stream.async_connect(asio::local::stream_protocol::endpoint(path),
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await Exchange(stream, request, "localhost", out, ec, timeout);
  };
  auto over_tcp = [&]() -> asio::awaitable<void> {
    asio::ip::tcp::resolver resolver(ioc);
    auto results = co_await resolver.async_resolve(url.host, url.port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (!context) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(timeout);
      co_await stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) co_await Exchange(stream, request, url.authority, out, ec, timeout);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(ioc, *context);
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await beast::get_lowest_layer(stream).async_connect(
        results, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    if (auto ready = PrepareTlsClient(stream.native_handle(), url.host); !ready) {
      failure = ready.error().message;
      co_return;
    }
    co_await stream.async_handshake(ssl::stream_base::client,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec && ec != beast::error::timeout)
      failure = "TLS handshake failed: " + TlsFailure(ec, stream.native_handle());
    if (!ec) co_await Exchange(stream, request, url.authority, out, ec, timeout);
    if (ec && failure.empty() && ec != beast::error::timeout)
      failure = TlsFailure(ec, stream.native_handle());
  };
  if (base_url.starts_with("unix:")) {
    path = base_url.substr(5);
    asio::co_spawn(ioc, over_unix(), asio::detached);
  } else if (base_url.starts_with("http://") || base_url.starts_with("https://")) {
    auto parsed = ParseHttpUrl(base_url);
    if (!parsed) return std::unexpected(parsed.error());
    url = std::move(*parsed);
    if (url.tls) {
      auto made = MakeTlsClientContext(tls ? *tls : TlsClientOptions{});
      if (!made) return std::unexpected(made.error());
      context = std::move(*made);
    }
    asio::co_spawn(ioc, over_tcp(), asio::detached);
  } else {
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument,
                  "expected http://HOST[:PORT], https://HOST[:PORT] or unix:PATH: " + base_url));
  }
  ioc.run();
  if (!failure.empty())
    return std::unexpected(MakeError(ErrorCode::kUnavailable, base_url + ": " + failure));
  if (ec == beast::error::timeout)
    return std::unexpected(MakeError(ErrorCode::kTimeout, base_url + ": no answer in time"));
  if (ec)
    return std::unexpected(MakeError(ErrorCode::kUnavailable, base_url + ": " + ec.message()));
  return out;
}

}  // namespace metastack::http
