#pragma once
// An HTTP/1.x server on Beast coroutines, shaped like Beast's awaitable examples: one
// coroutine per connection owns its stream; every read has a deadline and every parser a header
// and body limit; the request handler is a plain function apart from the connection mechanics.
//
// Listeners (TCP, UNIX socket, or an already-bound socket handed over as a file descriptor,
// e.g. one bound inside another network namespace) each carry their own Handler and can be
// closed one at a time without disturbing the others. HTTP/1.1 keep-alive and HTTP/1.0 (with or
// without Host) are served; HEAD answers carry the GET's Content-Length and no body.
//
// Thread-safety: Server's methods may be called from any thread, concurrently (a control
// handler opens and closes listeners while others serve); Handlers are called on the
// io_context's threads, concurrently if several threads run it. Given an
// IoPool, listeners still accept on the io_context but each connection then lives on one of the
// pool's single-threaded contexts, and Handlers run there. Stop() closes listeners and every
// open connection; the io_context (and the pool's contexts, once stopped) then run out of work.

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "http/asio.h"
#include "http/io_pool.h"
#include "http/metrics.h"
#include "http/response.h"

namespace metastack::http {

struct Peer {
  std::string address;  // canonical text without a zone ("10.0.0.5", "::ffff:10.0.0.5",
                        // "fe80::f816:3eff:fe00:407"); "" for UNIX sockets
  uint16_t port = 0;
};

struct Request {
  bhttp::request<bhttp::string_body> message;
  Peer peer;
  std::string local_address;  // the address the connection arrived on ("" for UNIX sockets)

  // The first value of a header ("" when absent) and how many times it appears.
  std::string_view Header(std::string_view name) const;
  size_t HeaderCount(std::string_view name) const;
  bool Has(std::string_view name) const { return HeaderCount(name) > 0; }
};

using Handler = std::function<asio::awaitable<Response>(Request&)>;

// Connection limits, so that no guest or tenant can exhaust what another guest needs. One server
// may hold the listeners of many tenants (the ns-proxy: one per router or DHCP namespace, whose
// guests' addresses overlap by design), so guest-facing listeners (PeerLimit::kPerAddress) are
// limited three ways, all checked when a connection is accepted:
//  1. per (listener, source address): max_connections_per_address. The same address behind
//     another listener is another guest, with its own count.
//  2. per listener: max_connections_per_listener.
//  3. a fair share of the total: a listener's share is max_connections divided by the number of
//     open guest-facing listeners. A listener holding its share or more is refused once the
//     server's total reaches max_connections - reserved_connections; only listeners below their
//     share may take the last reserved_connections.
// What that guarantees: a listener below its fair share is refused for the total only when the
// whole total is in use *and* listeners below their share hold part of the reserve — whatever
// other listeners hoard, they never take the reserve. A guest holding all it may on one listener
// does not refuse the same address on another. Trusted-hop listeners (PeerLimit::kTotalOnly,
// e.g. the API's signed listener, whose peers are metadata agents; and every UNIX socket) are
// limited by max_connections alone, are not counted as listeners for the share, and are never
// refused by 1-3. Counters are released as connections end: an address's entry is erased at
// zero, a closed listener's once its last connection ends.
struct ServerLimits {
  size_t header_bytes = 8 * 1024;  // request line + headers
  size_t body_bytes = 64 * 1024;
  // A whole request (headers and body) must arrive within this, once its first byte has.
  std::chrono::milliseconds request_timeout{10'000};
  // How long a connection may sit between requests (and before its first).
  std::chrono::milliseconds idle_timeout{30'000};
  // How long writing an answer may take.
  std::chrono::milliseconds write_timeout{10'000};
  size_t max_connections = 10'000;
  size_t max_connections_per_listener = 2'500;
  size_t reserved_connections = 2'500;       // of max_connections, for listeners below their share
  size_t max_connections_per_address = 256;  // per (listener, source IP), IPv4 and IPv6 alike
};

// Sets the header and body limits every listener's request parser has (also what the request
// parsing fuzz target uses, so that it parses exactly as the server does).
void LimitParser(bhttp::request_parser<bhttp::string_body>& parser, const ServerLimits& limits);

// Whether a request's Transfer-Encoding is one the server reads: none, or exactly one
// `chunked`. Anything else is refused (400, connection closed), so that no hop can read a body
// differently from another (request smuggling).
bool TransferEncodingAcceptable(const bhttp::request_header<>& header);

// Which limit refused a connection (the `limit` label of metastack_http_connections_refused_total).
enum class Refusal { kTotal, kShare, kListener, kAddress };
inline constexpr size_t kRefusalKinds = 4;
std::string_view RefusalName(Refusal r);  // "total", "share", "listener", "address"

struct ServerStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};                               // over a connection limit (any)
  std::array<std::atomic<uint64_t>, kRefusalKinds> refused_by{};  // indexed by Refusal
  std::atomic<uint64_t> timed_out{0};  // closed for a read or write deadline
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> tls_failures{0};  // TLS handshakes that failed or timed out
  std::atomic<uint64_t> requests{0};
  std::atomic<int64_t> open{0};

  uint64_t RefusedBy(Refusal r) const { return refused_by[static_cast<size_t>(r)].load(); }
};

// What the connection limits track now (tests check that nothing leaks).
struct ConnectionCounts {
  size_t open = 0;
  size_t listeners = 0;  // listeners with counters: open ones, and closed ones with connections
  size_t addresses = 0;  // (listener, address) entries
};

using ListenerId = uint64_t;
class TlsServer;  // http/tls.h

// Whom a TCP listener's peers are. Guests each have their own address, so a guest-facing
// listener limits each, and the listener as a whole (see ServerLimits); a listener for the metadata
// agent sees every guest of a host (hundreds of requests at once) arrive from that host's one
// address, so only the total limit applies there.
enum class PeerLimit { kPerAddress, kTotalOnly };

class Server {
 public:
  // `sessions`, if given, must outlive the server's connections (stop it after Stop()).
  // `metrics`, if given, must outlive the server: refusals are counted there as they happen, in
  // metastack_http_connections_refused_total{limit="total|share|listener|address"}.
  Server(asio::io_context& ioc, ServerLimits limits, IoPool* sessions = nullptr,
         Metrics* metrics = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; port 0 picks a free port. Returns the bound endpoint. With `tls`, every
  // connection is TLS (http/tls.h): its handshake must complete within the request timeout; one
  // that fails is counted (ServerStats::tls_failures) and logged, each reason at most once per
  // 10 s with its count: "TLS on 127.0.0.1:8775: handshake from 10.0.0.3 failed: peer did not
  // return a certificate".
  Result<asio::ip::tcp::endpoint> ListenTcp(const std::string& address, uint16_t port,
                                            Handler handler, ListenerId* id = nullptr,
                                            PeerLimit peer_limit = PeerLimit::kPerAddress,
                                            std::shared_ptr<TlsServer> tls = nullptr);
  // Creates the socket file with `mode` permissions, replacing a stale one (nothing accepting on
  // it); kConflict when a process is accepting on it.
  Status ListenUnix(const std::string& path, mode_t mode, Handler handler,
                    ListenerId* id = nullptr);
  // Takes ownership of a bound, listening TCP socket (guest-facing: PeerLimit::kPerAddress).
  Result<ListenerId> AdoptTcp(int fd, Handler handler);

  // Stops accepting on one listener; its open connections finish their current exchange. It
  // stops counting toward the fair share at once; its counters go when its last connection does.
  void CloseListener(ListenerId id);
  void Stop();
  // Stops accepting (every listener closes) and ends connections as they go idle: one waiting
  // for its next request closes now, one with a request in progress closes once its answer is
  // written (Connection: close). Stop() afterwards closes whatever is left.
  void Drain();
  size_t open_connections() const;

  const ServerStats& stats() const { return *stats_; }
  ConnectionCounts counts() const;
  // Limits for connections accepted from now on (a connection keeps the ones it was accepted
  // under): a reload changes them without closing anything.
  void SetLimits(const ServerLimits& limits);
  ServerLimits limits() const;

  // Implementation detail shared by listeners and sessions (defined in server.cc).
  struct Shared;

 private:
  // Stop() (every connection closed) or Drain() (idle ones closed).
  void CloseAll(bool drain);
  template <typename Acceptor>
  ListenerId Start(Acceptor acceptor, Handler handler,
                   PeerLimit peer_limit = PeerLimit::kPerAddress,
                   std::shared_ptr<TlsServer> tls = nullptr);

  asio::io_context& ioc_;
  IoPool* sessions_;
  std::shared_ptr<ServerStats> stats_ = std::make_shared<ServerStats>();
  std::shared_ptr<Shared> shared_;
  std::atomic<ListenerId> next_id_{1};
};

// "Tue, 15 Nov 1994 08:12:31 GMT" for now (cached per second).
std::string HttpDate();

}  // namespace metastack::http
