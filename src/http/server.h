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
// Thread-safety: Server is used from the thread that created it (its io_context's); Handlers
// are called on the io_context's threads, concurrently if several threads run it. Given an
// IoPool, listeners still accept on the io_context but each connection then lives on one of the
// pool's single-threaded contexts, and Handlers run there. Stop() closes listeners and every
// open connection; the io_context (and the pool's contexts, once stopped) then run out of work.

#include <sys/types.h>

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

namespace metastack::http {

struct Peer {
  std::string address;  // canonical text ("10.0.0.5", "::ffff:10.0.0.5"); "" for UNIX sockets
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

struct Response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool close = false;  // close the connection after this answer
};

using Handler = std::function<asio::awaitable<Response>(Request&)>;

struct Limits {
  size_t header_bytes = 8 * 1024;  // request line + headers
  size_t body_bytes = 64 * 1024;
  // A whole request (headers and body) must arrive within this, once its first byte has.
  std::chrono::milliseconds request_timeout{10'000};
  // How long a connection may sit between requests (and before its first).
  std::chrono::milliseconds idle_timeout{30'000};
  // How long writing an answer may take.
  std::chrono::milliseconds write_timeout{10'000};
  size_t max_connections = 10'000;
  size_t max_connections_per_address = 256;  // per source IP, IPv4 and IPv6 alike
};

// Sets the header and body limits every listener's request parser has (also what the request
// parsing fuzz target uses, so that it parses exactly as the server does).
void LimitParser(bhttp::request_parser<bhttp::string_body>& parser, const Limits& limits);

struct ServerStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};    // over a connection limit
  std::atomic<uint64_t> timed_out{0};  // closed for a read or write deadline
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<int64_t> open{0};
};

using ListenerId = uint64_t;

// Whom a TCP listener's per-address limit protects. Guests each have their own address, so a
// guest-facing listener limits each; a listener for the metadata agent sees every guest of a
// host (hundreds of requests at once) arrive from that host's one address, so only the total
// limit applies there.
enum class PeerLimit { kPerAddress, kTotalOnly };

class Server {
 public:
  // `sessions`, if given, must outlive the server's connections (stop it after Stop()).
  Server(asio::io_context& ioc, Limits limits, IoPool* sessions = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; port 0 picks a free port. Returns the bound endpoint.
  Result<asio::ip::tcp::endpoint> ListenTcp(const std::string& address, uint16_t port,
                                            Handler handler, ListenerId* id = nullptr,
                                            PeerLimit peer_limit = PeerLimit::kPerAddress);
  // Creates the socket file (replacing a stale one) with `mode` permissions.
  Status ListenUnix(const std::string& path, mode_t mode, Handler handler,
                    ListenerId* id = nullptr);
  // Takes ownership of a bound, listening TCP socket.
  Result<ListenerId> AdoptTcp(int fd, Handler handler);

  // Stops accepting on one listener; its open connections finish their current exchange.
  void CloseListener(ListenerId id);
  void Stop();

  const ServerStats& stats() const { return *stats_; }
  const Limits& limits() const { return limits_; }

  // Implementation detail shared by listeners and sessions (defined in server.cc).
  struct Shared;

 private:
  template <typename Acceptor>
  ListenerId Start(Acceptor acceptor, Handler handler,
                   PeerLimit peer_limit = PeerLimit::kPerAddress);

  asio::io_context& ioc_;
  Limits limits_;
  IoPool* sessions_;
  std::shared_ptr<ServerStats> stats_ = std::make_shared<ServerStats>();
  std::shared_ptr<Shared> shared_;
  ListenerId next_id_ = 1;
};

// "Tue, 15 Nov 1994 08:12:31 GMT" for now (cached per second).
std::string HttpDate();

}  // namespace metastack::http
