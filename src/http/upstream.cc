#include "http/upstream.h"

#include <unordered_map>

#include "http/error_response.h"
#include "http/forward.h"
#include "http/headers.h"
#include "http/tls.h"
#include "http/url.h"

namespace metastack::http {
namespace {

// kTls: every connection is TLS with options.tls, the server's certificate checked against
// `tls_host`.
template <typename Protocol, bool kTls = false>
class Pool final : public Upstream, public std::enable_shared_from_this<Pool<Protocol, kTls>> {
 public:
  using Plain = beast::basic_stream<Protocol>;
  using Stream = std::conditional_t<kTls, beast::ssl_stream<Plain>, Plain>;
  using Endpoint = typename Protocol::endpoint;

  Pool(std::string name, std::string host, std::vector<Endpoint> endpoints, UpstreamOptions options,
       std::string tls_host = {})
      : name_(std::move(name)),
        host_(std::move(host)),
        endpoints_(std::move(endpoints)),
        options_(std::move(options)),
        tls_host_(std::move(tls_host)) {}

  const std::string& name() const override { return name_; }

  asio::awaitable<Result<UpstreamResponse>> Send(UpstreamRequest request,
                                                 std::chrono::milliseconds hold) override {
    request.set(bhttp::field::host, host_);
    request.keep_alive(true);
    request.prepare_payload();
    co_return co_await Run(&request, {}, request.method() == bhttp::verb::head, hold);
  }

  asio::awaitable<Result<UpstreamResponse>> Forward(const Request& in, const HeadEdits& edits,
                                                    std::chrono::milliseconds hold) override {
    std::string wire;
    if (auto written = WriteForwarded(in, edits, host_, wire); !written)
      co_return std::unexpected(written.error());
    co_return co_await Run(nullptr, wire, in.message.method() == bhttp::verb::head, hold);
  }

 private:
  // A connection and its read buffer, kept together so that neither is allocated per request.
  struct Conn {
    template <typename... Args>
    explicit Conn(Args&&... args) : stream(std::forward<Args>(args)...) {
      buffer.reserve(kReadSize);
    }
    Stream stream;
    beast::flat_buffer buffer;
  };
  // The first read asks for this much: a whole metadata answer in one read (an empty
  // flat_buffer would read 512 bytes at a time).
  static constexpr size_t kReadSize = 16 * 1024;

  // One exchange: `message` (Beast serialises it) or else `wire` (the bytes as they go).
  asio::awaitable<Result<UpstreamResponse>> Run(UpstreamRequest* message, std::string_view wire,
                                                bool head, std::chrono::milliseconds hold) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      // Only the first attempt may take a pooled connection: after an upstream restart every
      // pooled one is dead, and the retry must not pick another of them.
      auto exec = co_await asio::this_coro::executor;
      const void* context = &asio::query(exec, asio::execution::context);
      std::unique_ptr<Conn> conn = attempt == 0 ? TakeIdle(context) : nullptr;
      bool reused = conn != nullptr;
      if (!conn) {
        auto opened = co_await Connect(exec);
        if (!opened) co_return std::unexpected(opened.error());
        conn = std::move(*opened);
      }
      beast::error_code ec;
      bool got_bytes = false;
      auto response = co_await Exchange(*conn, message, wire, head,
                                        options_.response_timeout + hold, ec, got_bytes);
      if (!ec) {
        if (response.keep_alive()) Release(context, std::move(conn));
        co_return std::move(response);
      }
      if (reused && !got_bytes && ec != beast::error::timeout) continue;  // stale keep-alive
      if (ec == beast::error::timeout)
        co_return std::unexpected(
            MakeError(ErrorCode::kTimeout, name_ + ": no answer within the response timeout"));
      co_return std::unexpected(
          MakeError(ErrorCode::kUnavailable, name_ + ": " + Reason(*conn, ec)));
    }
    co_return std::unexpected(MakeError(ErrorCode::kUnavailable, name_ + ": connection lost"));
  }

  // Idle connections are kept per io_context and handed only to requests running on the same
  // one: with an IoPool each thread then reuses its own connections, and a connection's I/O
  // completes on the thread that waits for it.
  std::unique_ptr<Conn> TakeIdle(const void* context) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(context);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    auto s = std::move(it->second.back());
    it->second.pop_back();
    idle_count_--;
    return s;
  }

  void Release(const void* context, std::unique_ptr<Conn> conn) {
    std::lock_guard lock(mu_);
    if (idle_count_ >= options_.max_idle) return;
    idle_[context].push_back(std::move(conn));
    idle_count_++;
  }

  // Why an exchange on `conn` failed: under TLS, the verification's reason when there is one.
  std::string Reason(Conn& conn, const beast::error_code& ec) {
    if constexpr (kTls)
      return TlsFailure(ec, conn.stream.native_handle());
    else
      return ec.message();
  }

  // Opens a connection on the caller's executor: connects and, under TLS, completes the
  // handshake, both within the connect timeout.
  asio::awaitable<Result<std::unique_ptr<Conn>>> Connect(asio::any_io_executor exec) {
    std::unique_ptr<Conn> conn;
    if constexpr (kTls)
      conn = std::make_unique<Conn>(exec, *options_.tls);
    else
      conn = std::make_unique<Conn>(exec);
    Plain& plain = beast::get_lowest_layer(conn->stream);
    plain.expires_after(options_.connect_timeout);
    beast::error_code ec;
    for (const auto& ep : endpoints_) {
      co_await plain.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) break;
      if (ec == beast::error::timeout) break;
    }
    if (ec == beast::error::timeout)
      co_return std::unexpected(MakeError(ErrorCode::kTimeout, name_ + ": connect timed out"));
    if (ec)
      co_return std::unexpected(MakeError(ErrorCode::kUnavailable, name_ + ": " + ec.message()));
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      beast::error_code ignored;
      plain.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    if constexpr (kTls) {
      if (auto ready = PrepareTlsClient(conn->stream.native_handle(), tls_host_); !ready)
        co_return std::unexpected(ready.error());
      co_await conn->stream.async_handshake(ssl::stream_base::client,
                                            asio::redirect_error(asio::use_awaitable, ec));
      if (ec == beast::error::timeout)
        co_return std::unexpected(
            MakeError(ErrorCode::kTimeout, name_ + ": TLS handshake timed out"));
      if (ec)
        co_return std::unexpected(MakeError(
            ErrorCode::kUnavailable, name_ + ": TLS handshake failed: " + Reason(*conn, ec)));
    }
    co_return std::move(conn);
  }

  asio::awaitable<UpstreamResponse> Exchange(Conn& conn, UpstreamRequest* message,
                                             std::string_view wire, bool head,
                                             std::chrono::milliseconds timeout,
                                             beast::error_code& ec, bool& got_bytes) {
    Stream& stream = conn.stream;
    beast::get_lowest_layer(stream).expires_after(timeout);
    if (message)
      co_await bhttp::async_write(stream, *message, asio::redirect_error(asio::use_awaitable, ec));
    else
      co_await asio::async_write(stream, asio::buffer(wire.data(), wire.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
    UpstreamResponse out;
    if (ec) co_return out;
    beast::flat_buffer& buffer = conn.buffer;
    buffer.consume(buffer.size());
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    if (head) parser.skip(true);
    co_await bhttp::async_read_header(stream, buffer, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    got_bytes = buffer.size() > 0 || parser.got_some();
    if (!ec && !parser.is_done())
      co_await bhttp::async_read(stream, buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return out;
    out = parser.release();
    // Bytes beyond this answer mean the upstream is confused; never reuse such a connection.
    if (buffer.size() > 0) out.keep_alive(false);
    co_return out;
  }

  std::string name_;
  std::string host_;
  std::vector<Endpoint> endpoints_;
  UpstreamOptions options_;
  std::string tls_host_;
  std::mutex mu_;
  std::unordered_map<const void*, std::vector<std::unique_ptr<Conn>>> idle_;
  size_t idle_count_ = 0;
};

}  // namespace

asio::awaitable<Result<UpstreamResponse>> Upstream::Forward(const Request& in,
                                                            const HeadEdits& edits,
                                                            std::chrono::milliseconds hold) {
  auto message = ForwardedMessage(in, edits);
  if (!message) co_return std::unexpected(message.error());
  co_return co_await Send(std::move(*message), hold);
}

Response PassBack(UpstreamResponse&& upstream) {
  Response r;
  r.status = upstream.result_int();
  auto ct = upstream[bhttp::field::content_type];
  r.content_type = std::string(ct.data(), ct.size());
  for (std::string_view name : header::kPassedBack) {
    auto [first, last] = upstream.equal_range(beast::string_view(name.data(), name.size()));
    for (auto it = first; it != last; ++it)
      r.headers.emplace_back(name, std::string(it->value().data(), it->value().size()));
  }
  r.body = std::move(upstream.body());
  return r;
}

namespace {

class InProcessUpstream final : public Upstream {
 public:
  InProcessUpstream(Handler handler, std::string name)
      : handler_(std::move(handler)), name_(std::move(name)) {}

  asio::awaitable<Result<UpstreamResponse>> Send(UpstreamRequest request,
                                                 std::chrono::milliseconds) override {
    Request req{std::move(request), Peer{}, ""};
    Response res;
    try {
      res = co_await handler_(req);
    } catch (const std::exception&) {
      res = ErrorResponse(MakeError(ErrorCode::kInternal, "the handler threw"));
    }
    UpstreamResponse out{static_cast<bhttp::status>(res.status), 11};
    if (!res.content_type.empty()) out.set(bhttp::field::content_type, res.content_type);
    for (auto& [name, value] : res.headers) out.insert(name, value);
    out.body() = std::move(res.body);
    co_return out;
  }
  const std::string& name() const override { return name_; }

 private:
  Handler handler_;
  std::string name_;
};

}  // namespace

std::shared_ptr<Upstream> MakeInProcessUpstream(Handler handler, std::string name) {
  return std::make_shared<InProcessUpstream>(std::move(handler), std::move(name));
}

Result<std::shared_ptr<Upstream>> MakeUpstream(const std::string& url, UpstreamOptions options) {
  if (url.starts_with("unix:")) {
    std::string path = url.substr(5);
    if (path.empty())
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "empty socket path in " + url));
    return std::make_shared<Pool<asio::local::stream_protocol>>(
        url, "localhost",
        std::vector<asio::local::stream_protocol::endpoint>{
            asio::local::stream_protocol::endpoint(path)},
        options);
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    auto parsed = ParseHttpUrl(url);
    if (!parsed) return std::unexpected(parsed.error());
    asio::io_context resolver_ctx;
    asio::ip::tcp::resolver resolver(resolver_ctx);
    beast::error_code ec;
    auto results = resolver.resolve(parsed->host, parsed->port, ec);
    if (ec)
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument, "cannot resolve " + url + ": " + ec.message()));
    std::vector<asio::ip::tcp::endpoint> eps;
    for (const auto& r : results) eps.push_back(r.endpoint());
    if (!parsed->tls)
      return std::make_shared<Pool<asio::ip::tcp>>(url, parsed->authority, std::move(eps),
                                                   std::move(options));
    if (!options.tls) {
      auto system = MakeTlsClientContext({});
      if (!system) return std::unexpected(system.error());
      options.tls = std::move(*system);
    }
    return std::make_shared<Pool<asio::ip::tcp, true>>(url, parsed->authority, std::move(eps),
                                                       std::move(options), parsed->host);
  }
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                   "expected http://HOST[:PORT], https://HOST[:PORT] or "
                                   "unix:PATH: " +
                                       url));
}

}  // namespace metastack::http
