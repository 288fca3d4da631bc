#include "guest/service.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/version.h"
#include "guest/http_answer.h"

namespace metastack::guest {
namespace {

using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string_view, std::string>>;

constexpr std::string_view kLogComponent = "guest";
constexpr std::string_view kHostHeader = "Host";
constexpr std::string_view kUserAgentHeader = "User-Agent";
constexpr std::string_view kConnectionHeader = "Connection";
constexpr std::string_view kContentLengthHeader = "Content-Length";

std::unexpected<Error> UrlError(std::string_view url, std::string_view reason) {
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument, std::string(url) + ": " + std::string(reason)));
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Visible ASCII only: what may go into a request line or a header value unescaped.
bool Visible(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// The zone of "[fe80::1%eth0]": an interface index, or 0 after setting `reason`.
uint32_t ZoneIndex(std::string_view zone, std::string& reason) {
  if (AllDigits(zone)) {
    uint32_t index = 0;
    auto [end, ec] = std::from_chars(zone.data(), zone.data() + zone.size(), index);
    if (ec != std::errc() || end != zone.data() + zone.size() || index == 0)
      reason = "bad interface index " + std::string(zone);
    return index;
  }
  uint32_t index = if_nametoindex(std::string(zone).c_str());
  if (index == 0) reason = "no interface " + std::string(zone);
  return index;
}

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t size = 0;
};

SocketAddress ToSocketAddress(const ServiceUrl& url) {
  SocketAddress out;
  if (url.family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(url.port);
    in6->sin6_scope_id = url.scope_id;
    inet_pton(AF_INET6, url.address.c_str(), &in6->sin6_addr);
    out.size = sizeof(sockaddr_in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(url.port);
    inet_pton(AF_INET, url.address.c_str(), &in4->sin_addr);
    out.size = sizeof(sockaddr_in);
  }
  return out;
}

// Owns a socket descriptor.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&&) = delete;
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Milliseconds(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

// Opens a non-blocking connection, done within `deadline` (the connect timeout, or the request
// timeout when that ends first: `limit` is the one that applies, for the message).
std::expected<Socket, Failure> Connect(const ServiceUrl& url, Clock::time_point deadline,
                                       std::chrono::milliseconds limit) {
  Socket sock(socket(url.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return SystemFailure(errno);
  SocketAddress address = ToSocketAddress(url);
  if (connect(sock.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.size) == 0)
    return sock;
  if (errno != EINPROGRESS && errno != EINTR) return SystemFailure(errno);
  int ready = WaitFor(sock.get(), POLLOUT, deadline);
  if (ready < 0) return SystemFailure(errno);
  if (ready == 0)
    return Fail(ErrorCode::kTimeout, "connect timed out after " + Milliseconds(limit));
  int err = 0;
  socklen_t size = sizeof err;
  if (getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &size) != 0) return SystemFailure(errno);
  if (err != 0) return SystemFailure(err);
  return sock;
}

std::expected<void, Failure> SendAll(int fd, std::string_view data, Clock::time_point deadline,
                                     const std::string& timeout_reason) {
  while (!data.empty()) {
    int ready = WaitFor(fd, POLLOUT, deadline);
    if (ready < 0) return SystemFailure(errno);
    if (ready == 0) return Fail(ErrorCode::kTimeout, timeout_reason);
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return SystemFailure(errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

// One connection, one request, one answer.
std::expected<HttpAnswer, Failure> Attempt(const ServiceOptions& options, const ServiceUrl& url,
                                           std::string_view method, std::string_view request) {
  auto start = Clock::now();
  auto deadline = start + options.request_timeout;
  auto connect_limit = std::min(options.connect_timeout, options.request_timeout);
  auto sock = Connect(url, start + connect_limit, connect_limit);
  if (!sock) return std::unexpected(std::move(sock).error());
  std::string timeout_reason = "no complete answer within " + Milliseconds(options.request_timeout);
  if (auto sent = SendAll(sock->get(), request, deadline, timeout_reason); !sent)
    return std::unexpected(std::move(sent).error());
  AnswerReader reader(sock->get(), deadline, timeout_reason);
  return ReadAnswer(reader, method == "HEAD", options.max_body_bytes);
}

std::string BuildRequest(std::string_view method, std::string_view path, const ServiceUrl& url,
                         const Headers& headers, std::string_view body) {
  std::string out;
  auto add = [&out](std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
  };
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  add(kHostHeader, url.host);
  add(kUserAgentHeader, "metastack-guest/" + std::string(Version()));
  add(kConnectionHeader, "close");
  for (const auto& [name, value] : headers) add(name, value);
  if (!body.empty() || method == "PUT" || method == "POST")
    add(kContentLengthHeader, std::to_string(body.size()));
  out.append("\r\n").append(body);
  return out;
}

// HttpRequest on a parsed URL, with any extra headers.
Result<HttpAnswer> Exchange(const ServiceOptions& options, const ServiceUrl& url,
                            std::string_view method, std::string_view path, const Headers& headers,
                            std::string_view body) {
  auto invalid = [&url](std::string reason) {
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument, url.base + ": " + reason));
  };
  if (method.empty() ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return invalid("not an HTTP method '" + std::string(method) + "'");
  if (!path.starts_with('/') || !Visible(path))
    return invalid("not a request path '" + std::string(path) + "'");
  for (const auto& [name, value] : headers)
    if (!Visible(value)) return invalid(std::string(name) + " is not a header value");
  std::string where = url.base + std::string(path);
  std::string request = BuildRequest(method, path, url, headers, body);
  int attempts = std::max(1, options.attempts);
  for (int attempt = 1;; ++attempt) {
    auto answer = Attempt(options, url, method, request);
    std::string reason;
    if (answer) {
      // 501: the service does not implement the method (a plain server asked for a token).
      // 429: a rate limit (metastack's, AWS's), which a later attempt passes.
      bool again = (answer->status >= 500 && answer->status != 501) || answer->status == 429;
      if (!again || attempt == attempts) return std::move(*answer);
      reason = "status " + std::to_string(answer->status);
    } else {
      if (!answer.error().retry || attempt == attempts)
        return std::unexpected(
            MakeError(answer.error().code, where + ": " + answer.error().reason));
      reason = std::move(answer.error().reason);
    }
    LogInfo(kLogComponent, where + ": " + reason + "; attempt " + std::to_string(attempt) + " of " +
                               std::to_string(attempts) + ", retrying in " +
                               Milliseconds(options.retry_delay));
    std::this_thread::sleep_for(options.retry_delay);
  }
}

// Keeps RFC 3986's pchar set and '/', escapes every other byte.
std::string EncodePath(std::string_view path) {
  constexpr std::string_view kKept = "-._~!$&'()*+,;=:@/";
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || kKept.find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

class Service final : public ServiceTreeBase {
 public:
  explicit Service(ServiceOptions options)
      : options_(std::move(options)), url_(ParseServiceUrl(options_.base_url)) {}

  Result<std::string> Read(std::string_view path) override {
    if (!url_) return std::unexpected(url_.error());
    METASTACK_RETURN_IF_ERROR(CheckTreePath(path));
    if (!token_asked_) {
      token_asked_ = true;
      AskToken();
    }
    std::string target = "/" + EncodePath(path);
    auto answer = Get(target);
    if (answer && answer->status == 401 && token_) {
      AskToken();
      answer = Get(target);
    }
    if (!answer) return std::unexpected(std::move(answer).error());
    if (answer->status == 200) return std::move(answer->body);
    std::string message = url_->base + target + ": status " + std::to_string(answer->status);
    return std::unexpected(
        MakeError(answer->status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable, message));
  }

  std::string Describe() const override { return "metadata service " + options_.base_url; }
  std::optional<std::string> token() const override { return token_; }

 private:
  Result<HttpAnswer> Get(const std::string& target) {
    Headers headers;
    if (token_) headers.emplace_back(kTokenHeader, *token_);
    return Exchange(options_, *url_, "GET", target, headers, {});
  }

  void AskToken() {
    token_.reset();
    Headers headers{{kTokenTtlHeader, std::to_string(options_.token_ttl_seconds)}};
    auto answer = Exchange(options_, *url_, "PUT", kTokenPath, headers, {});
    std::string where = url_->base + std::string(kTokenPath);
    if (!answer) {
      LogDebug(kLogComponent, "no session token: " + answer.error().message);
    } else if (answer->status != 200) {
      LogDebug(kLogComponent,
               "no session token: " + where + ": status " + std::to_string(answer->status));
    } else if (answer->body.empty()) {
      LogDebug(kLogComponent, "no session token: " + where + ": an empty token");
    } else if (!Visible(answer->body)) {
      LogDebug(kLogComponent, "no session token: " + where + ": the token is not a header value");
    } else {
      token_ = std::move(answer->body);
    }
  }

  ServiceOptions options_;
  Result<ServiceUrl> url_;
  bool token_asked_ = false;
  std::optional<std::string> token_;
};

}  // namespace

Result<ServiceUrl> ParseServiceUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return UrlError(url, "not an http:// URL");
  ServiceUrl out;
  std::string_view rest = url.substr(kScheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  out.base = std::string(kScheme) + std::string(rest);
  if (rest.find_first_of("/?#@") != std::string_view::npos)
    return UrlError(url, "a base URL has no path, query or user");
  std::string_view port;
  bool has_port = false;
  if (rest.starts_with('[')) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return UrlError(url, "no ']' after the IPv6 address");
    std::string_view host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return UrlError(url, "only ':port' may follow the host");
      port = after.substr(1);
      has_port = true;
    }
    std::string_view zone;
    bool has_zone = false;
    if (size_t percent = host.find('%'); percent != std::string_view::npos) {
      zone = host.substr(percent + 1);
      host = host.substr(0, percent);
      has_zone = true;
    }
    in6_addr address{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1)
      return UrlError(url, "not an IPv6 address: " + std::string(host));
    bool link_local = IN6_IS_ADDR_LINKLOCAL(&address) || IN6_IS_ADDR_MC_LINKLOCAL(&address);
    if (has_zone && !link_local)
      return UrlError(url, "a zone applies only to a link-local address");
    if (!has_zone && link_local)
      return UrlError(url, "a link-local address needs a zone (%interface)");
    if (has_zone) {
      if (zone.empty()) return UrlError(url, "an empty zone after '%'");
      std::string reason;
      out.scope_id = ZoneIndex(zone, reason);
      if (!reason.empty()) return UrlError(url, reason);
    }
    out.family = AF_INET6;
    out.address = std::string(host);
    out.host = "[" + out.address + "]";
  } else {
    size_t colon = rest.find(':');
    std::string_view host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      has_port = true;
    }
    in_addr address{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &address) != 1)
      return UrlError(url, "the host is neither an IPv4 address nor a bracketed IPv6 address");
    out.family = AF_INET;
    out.address = std::string(host);
    out.host = out.address;
  }
  if (has_port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (!AllDigits(port) || ec != std::errc() || value == 0 || value > 65535)
      return UrlError(url, "bad port '" + std::string(port) + "'");
    out.port = static_cast<uint16_t>(value);
  }
  if (out.port != 80) out.host += ":" + std::to_string(out.port);
  return out;
}

Result<HttpAnswer> HttpRequest(const ServiceOptions& options, const std::string& method,
                               const std::string& path, const std::string& body,
                               const std::optional<std::string>& token) {
  METASTACK_ASSIGN_OR_RETURN(ServiceUrl url, ParseServiceUrl(options.base_url));
  Headers headers;
  if (token) headers.emplace_back(kTokenHeader, *token);
  return Exchange(options, url, method, path, headers, body);
}

std::unique_ptr<ServiceTreeBase> ServiceTree(ServiceOptions options) {
  return std::make_unique<Service>(std::move(options));
}

}  // namespace metastack::guest
