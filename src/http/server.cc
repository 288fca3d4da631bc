#include "http/server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <unordered_map>

#include "base/failure_log.h"
#include "http/error_response.h"
#include "http/request_head.h"
#include "http/tls.h"

namespace metastack::http {
namespace {

using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// The status line and header block of an answer (the body follows as is): what Beast's
// serializer writes for a response, formatted directly into one string. Content-Length is the
// body's even for HEAD; Connection says what differs from the version's default.
std::string ResponseHead(const Response& res, unsigned version, bool keep_alive) {
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  std::string h;
  h.reserve(128 + res.content_type.size() + res.headers.size() * 64);
  h += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  h += std::to_string(res.status);
  h += ' ';
  h.append(reason.data(), reason.size());
  h += "\r\n";
  auto field = [&](std::string_view name, std::string_view value) {
    h += name;
    h += ": ";
    h += value;
    h += "\r\n";
  };
  if (!res.content_type.empty()) field("Content-Type", res.content_type);
  field("Date", HttpDate());
  for (const auto& [k, v] : res.headers) field(k, v);
  bool bodiless = res.status / 100 == 1 || res.status == 204 || res.status == 304;
  if (!bodiless) field("Content-Length", std::to_string(res.body.size()));
  if (version == 10 && keep_alive) field("Connection", "keep-alive");
  if (version != 10 && !keep_alive) field("Connection", "close");
  h += "\r\n";
  return h;
}

// RFC 9112 6.1: a request whose final transfer coding is not chunked has no determinable
// length. Beast reads "chunked, identity" as a body-less request and the body as the next
// request (smuggling past anything in front of us), and several Transfer-Encoding lines may
// be read differently by another hop; so only one field of exactly "chunked" is accepted.
// An address as text without its IPv6 zone ("fe80::1", never "fe80::1%eth0"): the zone names
// the listener's own interface, not the client, and the text goes into X-Forwarded-For, lookups
// and logs, where only the address means anything.
std::string AddressText(const asio::ip::address& address) {
  if (!address.is_v6() || address.to_v6().scope_id() == 0) return address.to_string();
  return asio::ip::address_v6(address.to_v6().to_bytes()).to_string();
}

template <typename Endpoint>
Peer PeerOf(const Endpoint& ep) {
  if constexpr (std::is_same_v<Endpoint, tcp::endpoint>) {
    return Peer{AddressText(ep.address()), ep.port()};
  } else {
    return Peer{};
  }
}

}  // namespace

std::string HttpDate() {
  thread_local std::time_t cached_at = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_at = now;
  }
  return cached;
}

// The connection counters of one listener.
struct ListenerCounters {
  bool guest_facing = true;  // PeerLimit::kPerAddress
  bool closed = false;
  size_t open = 0;
  std::unordered_map<std::string, size_t> per_address;
};

// State shared by listeners and sessions; lives as long as any of them.
struct Server::Shared {
  std::mutex mu;
  ServerLimits limits;  // what new connections are admitted and served under (SetLimits)
  std::map<ListenerId, std::function<void()>> listeners;  // closers
  // Closers, each given whether to close a connection only while it waits between requests.
  std::map<uint64_t, std::function<void(bool idle_only)>> sessions;
  std::unordered_map<ListenerId, ListenerCounters> counters;
  size_t guest_listeners = 0;  // open guest-facing listeners: the fair share's divisor
  size_t open = 0;
  uint64_t next_session = 0;
  std::atomic<bool> stopped{false};   // written under mu; read per request without it
  std::atomic<bool> draining{false};  // the same: answers then end their connections
  std::array<Metrics::CounterSeries*, kRefusalKinds> refused_series{};

  // Whether a listener still takes connections (one accepted just as it closed does not).
  bool Accepting(ListenerId id) const {
    auto it = counters.find(id);
    return !stopped && it != counters.end() && !it->second.closed;
  }

  // Counts a connection in, or says which limit refuses it. Called with mu held, for a listener
  // that is Accepting().
  std::optional<Refusal> Admit(const ServerLimits& l, ListenerId id, const std::string& address) {
    ListenerCounters& c = counters.at(id);
    if (open >= l.max_connections) return Refusal::kTotal;
    if (c.guest_facing) {
      if (c.open >= l.max_connections_per_listener) return Refusal::kListener;
      size_t share = l.max_connections / std::max<size_t>(1, guest_listeners);
      size_t unreserved = l.max_connections > l.reserved_connections
                              ? l.max_connections - l.reserved_connections
                              : 0;
      if (c.open >= share && open >= unreserved) return Refusal::kShare;
      if (!address.empty()) {
        auto [it, inserted] = c.per_address.try_emplace(address, 0);
        if (it->second >= l.max_connections_per_address) {
          if (inserted) c.per_address.erase(it);
          return Refusal::kAddress;
        }
        it->second++;
      }
    }
    open++;
    c.open++;
    return std::nullopt;
  }

  // Counts a connection out. Called with mu held.
  void Release(ListenerId id, const std::string& address) {
    open--;
    auto it = counters.find(id);
    if (it == counters.end()) return;
    ListenerCounters& c = it->second;
    c.open--;
    if (auto a = c.per_address.find(address); a != c.per_address.end() && --a->second == 0)
      c.per_address.erase(a);
    if (c.closed && c.open == 0) counters.erase(it);
  }
};

std::string_view RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kTotal:
      return "total";
    case Refusal::kShare:
      return "share";
    case Refusal::kListener:
      return "listener";
    case Refusal::kAddress:
      return "address";
  }
  return "total";
}

namespace {

// A TLS listener's failed handshakes, logged per reason (each as FailureLog does: the first at
// once, then a count at most every 10 s), so that fixing one cause shows the next at once. At
// most kReasons reasons are told apart; further ones share one log.
class HandshakeLog {
 public:
  explicit HandshakeLog(std::string listener) : listener_(std::move(listener)) {}
  void Failure(const std::string& peer, const std::string& reason) {
    FailureLog* log;
    {
      std::lock_guard lock(mu_);
      auto it = logs_.find(reason);
      if (it == logs_.end()) {
        const std::string key = logs_.size() < kReasons ? reason : "";
        it = logs_.find(key);
        if (it == logs_.end())
          it = logs_.emplace(key, std::make_unique<FailureLog>("tls", "TLS on " + listener_)).first;
      }
      log = it->second.get();
    }
    log->Failure("handshake from " + peer + " failed: " + reason);
  }

 private:
  static constexpr size_t kReasons = 16;
  std::string listener_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<FailureLog>> logs_;
};

struct SessionContext {
  std::shared_ptr<void> shared_owner;
  Server::Shared* shared = nullptr;
  std::shared_ptr<ServerStats> stats;
  ServerLimits limits;
  Handler handler;
  IoPool* sessions = nullptr;  // where connections run; null: the acceptor's context
  ListenerId listener = 0;
  std::shared_ptr<TlsServer> tls;  // TCP listeners serving TLS
  std::shared_ptr<HandshakeLog> tls_failures;
};

}  // namespace

namespace detail {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A connection's TCP or UNIX socket, under TLS if any, and its deadline.
template <typename Stream>
auto& SocketOf(Stream& stream) {
  return beast::get_lowest_layer(stream).socket();
}
template <typename Stream>
void ExpiresAfter(Stream& stream, std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(stream).expires_after(timeout);
}

// Lets Server::Stop() and Drain() close the session's stream from any thread (on the stream's
// executor, where `busy` is written: a request being read, answered or written is not idle).
template <typename Stream>
void RegisterCloser(const SessionContext& ctx, const std::shared_ptr<Stream>& stream,
                    uint64_t session_id, std::shared_ptr<const bool> busy) {
  std::weak_ptr<Stream> weak = stream;
  auto exec = stream->get_executor();
  std::lock_guard lock(ctx.shared->mu);
  ctx.shared->sessions[session_id] = [weak, exec, busy](bool idle_only) {
    asio::post(exec, [weak, busy, idle_only] {
      auto s = weak.lock();
      if (!s) return;
      beast::error_code ec;
      auto& socket = SocketOf(*s);
      if (idle_only) {
        // Waiting for a request with none of its bytes arrived: end the wait now (the pending
        // read is cancelled). Bytes that have arrived, read or not, are a request, and it is
        // answered.
        if (!*busy && socket.available(ec) == 0) socket.cancel(ec);
        return;
      }
      socket.shutdown(asio::socket_base::shutdown_both, ec);
      socket.close(ec);
    });
  };
}

// Waits, within the idle timeout, for the first bytes of the next request unless some are
// buffered already. False when the connection is over (closed, or idle too long).
template <typename Stream>
asio::awaitable<bool> AwaitRequest(Stream& stream, beast::flat_buffer& buffer,
                                   const SessionContext& ctx) {
  if (buffer.size() > 0) co_return true;
  beast::error_code ec;
  ExpiresAfter(stream, ctx.limits.idle_timeout);
  size_t n = co_await stream.async_read_some(buffer.prepare(4096),
                                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (ec == beast::error::timeout) ctx.stats->timed_out++;
    co_return false;
  }
  buffer.commit(n);
  co_return true;
}

// Reads one whole request (header, then the body, after a 100 Continue if the client waits for
// one) within the request timeout.
template <typename Stream>
asio::awaitable<beast::error_code> ReadRequest(Stream& stream, beast::flat_buffer& buffer,
                                               bhttp::request_parser<bhttp::string_body>& parser,
                                               const ServerLimits& limits) {
  ExpiresAfter(stream, limits.request_timeout);
  beast::error_code ec = co_await ReadHead(stream, buffer, parser, limits);
  if (ec) co_return ec;
  co_await bhttp::async_read_header(stream, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
  if (!ec && !TransferEncodingAcceptable(parser.get())) ec = bhttp::error::bad_transfer_encoding;
  if (ec) co_return ec;
  auto expect = parser.get()[bhttp::field::expect];
  if (beast::iequals(expect, "100-continue") && !parser.is_done()) {
    bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, parser.get().version()};
    co_await bhttp::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec && !parser.is_done())
    co_await bhttp::async_read(stream, buffer, parser,
                               asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

// The answer to a request that could not be read (400, 413, 431; the connection then closes),
// or nullopt when there is no one to answer (the peer left, or was too slow).
std::optional<Response> UnreadableRequest(const beast::error_code& ec, ServerStats& stats) {
  if (ec == beast::error::timeout) {
    stats.timed_out++;
    return std::nullopt;
  }
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_reset)
    return std::nullopt;
  stats.bad_requests++;
  Response r;
  if (ec == bhttp::error::header_limit)
    r = ErrorResponse(MakeError(ErrorCode::kTooLarge, "Request header fields are too large."),
                      {.status = 431});
  else if (ec == bhttp::error::body_limit)
    r = ErrorResponse(MakeError(ErrorCode::kTooLarge, "Request body is too large."));
  else
    r = ErrorResponse(MakeError(ErrorCode::kInvalidArgument, ""));
  r.close = true;
  return r;
}

// The handler's answer; a handler that throws (a bug) gets the generic 500.
asio::awaitable<Response> Answer(const Handler& handler, Request& req) {
  try {
    co_return co_await handler(req);
  } catch (const std::exception&) {
  }
  Response r = ErrorResponse(MakeError(ErrorCode::kInternal, "the handler threw"));
  r.close = true;
  co_return r;
}

// Response::hop_limit on a TCP connection: the IP TTL and IPv6 hop limit of the socket (both,
// for a dual-stack socket whose peer is IPv4-mapped), set for an answer that asks for one and
// put back to the system default (-1) before the next answer that does not. Errors are ignored:
// a socket that refuses keeps its default.
template <typename Stream>
void ApplyHopLimit(Stream& stream, int hop_limit, bool& changed) {
  if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
    if (hop_limit <= 0 && !changed) return;
    int value = hop_limit > 0 ? hop_limit : -1;
    auto& socket = stream.socket();
    int fd = socket.native_handle();
    ::setsockopt(fd, IPPROTO_IP, IP_TTL, &value, sizeof value);
    beast::error_code ec;
    auto local = socket.local_endpoint(ec);
    if (!ec && local.address().is_v6())
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &value, sizeof value);
    changed = hop_limit > 0;
  }
}

// Writes the answer (no body for HEAD) within the write timeout; after an answer that ends the
// connection, shuts down the sending side so the client reads the end of it.
template <typename Stream>
asio::awaitable<beast::error_code> WriteResponse(Stream& stream, const Response& res,
                                                 unsigned version, bool keep_alive, bool head,
                                                 const ServerLimits& limits) {
  beast::error_code ec;
  ExpiresAfter(stream, limits.write_timeout);
  std::string out_head = ResponseHead(res, version, keep_alive);
  if (head || res.body.empty()) {
    co_await asio::async_write(stream, asio::buffer(out_head),
                               asio::redirect_error(asio::use_awaitable, ec));
  } else {
    std::array<asio::const_buffer, 2> out{asio::buffer(out_head), asio::buffer(res.body)};
    co_await asio::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec || keep_alive) co_return ec;
  // The end of the connection: under TLS a close_notify first (waiting, within the write
  // timeout, for the client's), so that the client reads a clean end rather than a truncation.
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    co_return beast::error_code{};
  } else {
    SocketOf(stream).shutdown(asio::socket_base::shutdown_send, ec);
    co_return ec;
  }
}

// Serves requests on one connection until it ends.
template <typename Stream>
asio::awaitable<void> ServeRequests(Stream* stream, const SessionContext& ctx, const Peer& peer,
                                    const std::string& local, bool* busy) {
  beast::flat_buffer buffer;
  bool hop_limit_changed = false;
  for (;;) {
    // Draining: a connection with no request in sight ends here (one whose next request has
    // started to arrive is answered; see RegisterCloser).
    if (ctx.shared->draining.load(std::memory_order_relaxed) && buffer.size() == 0) {
      beast::error_code ec;
      if (SocketOf(*stream).available(ec) == 0) break;
    }
    if (!co_await AwaitRequest(*stream, buffer, ctx)) break;
    *busy = true;
    bhttp::request_parser<bhttp::string_body> parser;
    LimitParser(parser, ctx.limits);
    beast::error_code ec = co_await ReadRequest(*stream, buffer, parser, ctx.limits);
    Response res;
    bool head = false;
    unsigned version = 11;
    bool keep_alive = false;
    if (ec) {
      auto answer = UnreadableRequest(ec, *ctx.stats);
      if (!answer) break;
      res = std::move(*answer);
    } else {
      Request req{parser.release(), peer, local};
      head = req.message.method() == bhttp::verb::head;
      version = req.message.version();
      keep_alive = req.message.keep_alive();
      ctx.stats->requests++;
      res = co_await Answer(ctx.handler, req);
    }
    if (ctx.shared->stopped.load(std::memory_order_relaxed) ||
        ctx.shared->draining.load(std::memory_order_relaxed))
      res.close = true;
    keep_alive = keep_alive && !res.close;
    ApplyHopLimit(*stream, res.hop_limit, hop_limit_changed);
    ec = co_await WriteResponse(*stream, res, version, keep_alive, head, ctx.limits);
    *busy = false;
    if (ec == beast::error::timeout) ctx.stats->timed_out++;
    if (ec || !keep_alive) break;
  }
}

// The TLS handshake within the request timeout; a failure is counted and logged (a client
// with no certificate, or one the CA did not sign, a client refusing ours).
asio::awaitable<bool> Handshake(TlsStream& stream, const SessionContext& ctx, const Peer& peer) {
  ExpiresAfter(stream, ctx.limits.request_timeout);
  beast::error_code ec;
  co_await stream.async_handshake(ssl::stream_base::server,
                                  asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_return true;
  ctx.stats->tls_failures++;
  if (ec == beast::error::timeout) {
    ctx.stats->timed_out++;
    co_return false;
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted)
    co_return false;
  ctx.tls_failures->Failure(peer.address, TlsFailure(ec, stream.native_handle()));
  co_return false;
}

template <typename Protocol>
asio::awaitable<void> Session(typename Protocol::socket socket, SessionContext ctx, Peer peer,
                              std::string local, uint64_t session_id) {
  auto busy = std::make_shared<bool>(false);
  if constexpr (std::is_same_v<Protocol, tcp>) {
    if (ctx.tls) {
      // The context this connection was accepted with, whatever a reload installs meanwhile.
      std::shared_ptr<ssl::context> context = ctx.tls->context();
      auto stream = std::make_shared<TlsStream>(std::move(socket), *context);
      RegisterCloser(ctx, stream, session_id, busy);
      if (co_await Handshake(*stream, ctx, peer))
        co_await ServeRequests(stream.get(), ctx, peer, local, busy.get());
      beast::get_lowest_layer(*stream).close();
    }
  }
  if (socket.is_open()) {
    auto stream = std::make_shared<beast::basic_stream<Protocol>>(std::move(socket));
    RegisterCloser(ctx, stream, session_id, busy);
    co_await ServeRequests(stream.get(), ctx, peer, local, busy.get());
    stream->close();
  }
  std::lock_guard lock(ctx.shared->mu);
  ctx.shared->sessions.erase(session_id);
  ctx.shared->Release(ctx.listener, peer.address);
  ctx.stats->open--;
}

template <typename Acceptor>
asio::awaitable<void> AcceptLoop(std::shared_ptr<Acceptor> acceptor, SessionContext ctx) {
  using Protocol = typename Acceptor::protocol_type;
  beast::error_code ec;
  for (;;) {
    typename Protocol::socket socket(ctx.sessions ? ctx.sessions->Next().get_executor()
                                                  : acceptor->get_executor());
    co_await acceptor->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      // Out of descriptors or a transient failure: back off briefly instead of spinning.
      asio::steady_timer t(acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    Peer peer;
    std::string local;
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      peer = PeerOf(socket.remote_endpoint(ec));
      local = AddressText(socket.local_endpoint(ec).address());
      if (ec) continue;
    }
    uint64_t id;
    ServerLimits limits;
    {
      std::lock_guard lock(ctx.shared->mu);
      if (!ctx.shared->Accepting(ctx.listener)) {
        socket.close(ec);
        continue;
      }
      if (auto refusal = ctx.shared->Admit(ctx.shared->limits, ctx.listener, peer.address)) {
        auto kind = static_cast<size_t>(*refusal);
        ctx.stats->refused++;
        ctx.stats->refused_by[kind]++;
        if (auto* series = ctx.shared->refused_series[kind]) series->Add(1);
        socket.close(ec);
        continue;
      }
      id = ctx.shared->next_session++;
      limits = ctx.shared->limits;  // the connection keeps the limits it was accepted under
    }
    ctx.stats->accepted++;
    ctx.stats->open++;
    SessionContext session = ctx;
    session.limits = limits;
    if (ctx.sessions) {  // a context of its own thread: no strand needed
      auto exec = socket.get_executor();
      asio::co_spawn(exec,
                     Session<Protocol>(std::move(socket), std::move(session), peer, local, id),
                     asio::detached);
    } else {
      auto strand = asio::make_strand(acceptor->get_executor());
      asio::co_spawn(strand,
                     Session<Protocol>(std::move(socket), std::move(session), peer, local, id),
                     asio::detached);
    }
  }
}

// A closed listener no longer counts toward the fair share; its counters go with its last
// connection. Called with mu held.
void ReleaseListener(Server::Shared& shared, ListenerId id) {
  auto it = shared.counters.find(id);
  if (it == shared.counters.end() || it->second.closed) return;
  it->second.closed = true;
  if (it->second.guest_facing) shared.guest_listeners--;
  if (it->second.open == 0) shared.counters.erase(it);
}

}  // namespace detail

Server::Server(asio::io_context& ioc, ServerLimits limits, IoPool* sessions, Metrics* metrics)
    : ioc_(ioc), sessions_(sessions), shared_(std::make_shared<Shared>()) {
  shared_->limits = limits;
  if (!metrics) return;
  metrics->Describe("metastack_http_connections_refused_total", "counter",
                    "Connections refused, by the limit that refused them (see --help)");
  for (size_t i = 0; i < kRefusalKinds; ++i)
    shared_->refused_series[i] =
        &metrics->Counter("metastack_http_connections_refused_total",
                          Labels({{"limit", RefusalName(static_cast<Refusal>(i))}}));
}

Server::~Server() { Stop(); }

template <typename Acceptor>
ListenerId Server::Start(Acceptor acceptor, Handler handler, PeerLimit peer_limit,
                         std::shared_ptr<TlsServer> tls) {
  auto a = std::make_shared<Acceptor>(std::move(acceptor));
  ListenerId id = next_id_++;
  {
    std::lock_guard lock(shared_->mu);
    shared_->listeners[id] = [a] {
      asio::post(a->get_executor(), [a] {
        beast::error_code ignored;
        a->close(ignored);
      });
    };
    bool guest_facing = peer_limit == PeerLimit::kPerAddress;
    shared_->counters[id].guest_facing = guest_facing;
    if (guest_facing) shared_->guest_listeners++;
  }
  SessionContext ctx{shared_, shared_.get(), stats_, {}, std::move(handler), sessions_, id};
  if constexpr (std::is_same_v<Acceptor, tcp::acceptor>) {
    if (tls) {
      beast::error_code ec;
      auto local = a->local_endpoint(ec);
      ctx.tls_failures = std::make_shared<HandshakeLog>(AddressText(local.address()) + ":" +
                                                        std::to_string(local.port()));
      ctx.tls = std::move(tls);
    }
  }
  asio::co_spawn(ioc_, detail::AcceptLoop(a, std::move(ctx)), asio::detached);
  return id;
}

Result<tcp::endpoint> Server::ListenTcp(const std::string& address, uint16_t port, Handler handler,
                                        ListenerId* id, PeerLimit peer_limit,
                                        std::shared_ptr<TlsServer> tls) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not an IP address", address));
  tcp::endpoint ep(addr, port);
  tcp::acceptor acceptor(ioc_);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && addr.is_v6()) acceptor.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return std::unexpected(MakeError(
        ErrorCode::kUnavailable,
        "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message()));
  tcp::endpoint bound = acceptor.local_endpoint(ec);
  ListenerId lid = Start(std::move(acceptor), std::move(handler), peer_limit, std::move(tls));
  if (id) *id = lid;
  return bound;
}

Status Server::ListenUnix(const std::string& path, mode_t mode, Handler handler, ListenerId* id) {
  std::error_code fec;
  beast::error_code ec;
  if (std::filesystem::is_socket(path, fec)) {
    // A socket someone still accepts on belongs to a running process: taking it over would
    // silently cut that process off. Only a stale one (nothing listening) is replaced.
    unix_socket::socket probe(ioc_);
    probe.connect(unix_socket::endpoint(path), ec);
    if (!ec)
      return std::unexpected(
          MakeError(ErrorCode::kConflict, "cannot listen on " + path +
                                              ": another process is serving it (is a second "
                                              "daemon running with the same sockets?)"));
    std::filesystem::remove(path, fec);
    ec.clear();
  }
  unix_socket::acceptor acceptor(ioc_);
  acceptor.open(unix_socket(), ec);
  if (!ec) acceptor.bind(unix_socket::endpoint(path), ec);
  if (!ec && ::chmod(path.c_str(), mode) != 0)
    ec = beast::error_code(errno, beast::system_category());
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return std::unexpected(
        MakeError(ErrorCode::kUnavailable, "cannot listen on " + path + ": " + ec.message()));
  ListenerId lid = Start(std::move(acceptor), std::move(handler), PeerLimit::kTotalOnly);
  if (id) *id = lid;
  return Ok();
}

Result<ListenerId> Server::AdoptTcp(int fd, Handler handler) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "not a socket"));
  beast::error_code ec;
  tcp::acceptor acceptor(ioc_);
  acceptor.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec)
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "cannot adopt socket: " + ec.message()));
  return Start(std::move(acceptor), std::move(handler));
}

void Server::CloseListener(ListenerId id) {
  std::function<void()> closer;
  {
    std::lock_guard lock(shared_->mu);
    auto it = shared_->listeners.find(id);
    if (it == shared_->listeners.end()) return;
    closer = std::move(it->second);
    shared_->listeners.erase(it);
    detail::ReleaseListener(*shared_, id);
  }
  closer();
}

ConnectionCounts Server::counts() const {
  std::lock_guard lock(shared_->mu);
  ConnectionCounts c;
  c.open = shared_->open;
  c.listeners = shared_->counters.size();
  for (const auto& [_, l] : shared_->counters) c.addresses += l.per_address.size();
  return c;
}

void Server::Stop() { CloseAll(false); }

void Server::Drain() { CloseAll(true); }

void Server::CloseAll(bool drain) {
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(shared_->mu);
    (drain ? shared_->draining : shared_->stopped) = true;
    for (auto& [id, c] : shared_->listeners) {
      closers.push_back(std::move(c));
      detail::ReleaseListener(*shared_, id);
    }
    for (auto& [_, c] : shared_->sessions) closers.push_back([c, drain] { c(drain); });
    shared_->listeners.clear();
  }
  for (auto& c : closers) c();
}

void Server::SetLimits(const ServerLimits& limits) {
  std::lock_guard lock(shared_->mu);
  shared_->limits = limits;
}

ServerLimits Server::limits() const {
  std::lock_guard lock(shared_->mu);
  return shared_->limits;
}

size_t Server::open_connections() const {
  std::lock_guard lock(shared_->mu);
  return shared_->open;
}

}  // namespace metastack::http
