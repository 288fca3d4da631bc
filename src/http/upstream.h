#pragma once
// A pool of keep-alive HTTP/1.1 connections to one upstream — a TCP host:port or a UNIX socket —
// used from coroutines: the agent's hop to the metadata API and the proxy's hop to the agent.
//
// Send() takes an idle connection (or opens one), writes the request and reads the answer under
// deadlines: connect_timeout, then response_timeout plus the request's `hold`, the time the
// upstream may legitimately hold it before answering (http::HoldFor: a GCE-style
// wait_for_change request), so that a long poll is never cut short on the way. A reused connection
// that the upstream had already closed fails before any answer arrives; Send() then retries once on
// a fresh connection, which is safe because the upstream never saw the request. Failures are
// values: kUnavailable (cannot connect, connection lost), kTimeout (no complete answer in time).
// Thread-safe: any number of coroutines on any threads may Send() at once.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "http/asio.h"
#include "http/server.h"

namespace boost::asio::ssl {
class context;
}

namespace metastack::http {

struct UpstreamOptions {
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds response_timeout{30'000};
  // Idle connections kept for reuse. As many as the requests a busy hop has in flight: a pool
  // smaller than that closes and reopens connections on every burst (measured: at 256 guest
  // connections a pool of 64 halved the proxy hop and tripled its p99).
  size_t max_idle = 1024;
  size_t max_response_bytes = 8 << 20;
  // For https:// URLs: the client context (http/tls.h MakeTlsClientContext: CAs, client
  // certificate). None: the system's CA store, no client certificate.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

using UpstreamRequest = bhttp::request<bhttp::string_body>;
using UpstreamResponse = bhttp::response<bhttp::string_body>;
struct HeadEdits;  // http/forward.h

class Upstream {
 public:
  virtual ~Upstream() = default;
  virtual asio::awaitable<Result<UpstreamResponse>> Send(UpstreamRequest request,
                                                         std::chrono::milliseconds hold = {}) = 0;
  // Sends a server's request `in` with a hop's edits applied (http/forward.h), as Send does
  // otherwise. A socket's pool writes the edited header block straight to the connection
  // (WriteForwarded); this default builds the message (ForwardedMessage) and calls Send. An
  // invalid stamp is kInternal, nothing sent. `in` and `edits` must live until it returns.
  virtual asio::awaitable<Result<UpstreamResponse>> Forward(const Request& in,
                                                            const HeadEdits& edits,
                                                            std::chrono::milliseconds hold = {});
  // "http://127.0.0.1:8775" or "unix:/run/metastack/agent.sock", for logs.
  virtual const std::string& name() const = 0;
};

// The request to send upstream for a server's request: its method (a token Beast has no verb
// for, "FOO", as the client sent it rather than empty), its target, HTTP/1.1; no header, no
// body (the caller chooses which to pass on). Defined in request.cc, with the rest of what
// the fuzz targets compile without the coroutine client.
UpstreamRequest UpstreamRequestFor(const Request& request);

// The answer to send back for an upstream's answer: its status, Content-Type, body and the
// header::kPassedBack headers (Allow, Location, Retry-After, ETag; every value of each); nothing
// else.
Response PassBack(UpstreamResponse&& upstream);

// "http://HOST[:PORT][/PATH]" (port 80 by default; the path is ignored: requests carry their
// own target), "https://HOST[:PORT][/PATH]" (port 443 by default: TLS with options.tls, the
// server's certificate checked against HOST; a connection's TCP connect and TLS handshake
// together take at most connect_timeout; a failed handshake is kUnavailable naming the reason,
// "TLS handshake failed: certificate verify failed: certificate has expired") or "unix:PATH";
// kInvalidArgument for anything else. Connections are opened on the executor of the coroutine
// that sends, and reused (TLS sessions included) only by coroutines on the same io_context.
Result<std::shared_ptr<Upstream>> MakeUpstream(const std::string& url, UpstreamOptions options);

// An upstream that is a handler of this same process (the agent in front of the API in one
// daemon): Send() calls `handler` directly in the sending coroutine, on its thread — no socket,
// nothing serialised or parsed again, and no deadline (`hold` is not needed: the handler's own
// deadlines apply). The handler sees the request as one from a UNIX socket
// (no peer address) and its answer comes back as an upstream's would; a handler that throws is
// a 500 as the server would make it. `name` is for logs ("in-process API").
std::shared_ptr<Upstream> MakeInProcessUpstream(Handler handler, std::string name);

}  // namespace metastack::http
