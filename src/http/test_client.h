#pragma once
// A blocking raw-socket client for tests: sends exact bytes, reads exact bytes, so tests can
// speak broken, slow or half-closed HTTP on purpose.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace metastack::http::testing {

// A response as RawClient::ReadResponse returns it, split: the status (0 when no status line
// arrived), the head (status line and headers, without the blank line) and the body.
struct RawReply {
  unsigned status = 0;
  std::string headers;
  std::string body;

  // A header's value as the server spells its name ("" when absent).
  std::string Field(const std::string& name) const {
    size_t at = headers.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    return headers.substr(at, headers.find("\r\n", at) - at);
  }
};

inline RawReply ParseRawReply(const std::string& raw) {
  RawReply r;
  if (raw.size() < 12) return r;
  r.status = static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
  size_t end = raw.find("\r\n\r\n");
  r.headers = raw.substr(0, end);
  r.body = end == std::string::npos ? "" : raw.substr(end + 4);
  return r;
}

class RawClient {
 public:
  static RawClient Tcp(uint16_t port, const char* address = "127.0.0.1") {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, address, &sa.sin_addr);
    return Connect(AF_INET, &sa, sizeof sa);
  }
  static RawClient Tcp6(uint16_t port, const char* address = "::1") {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    ::inet_pton(AF_INET6, address, &sa.sin6_addr);
    return Connect(AF_INET6, &sa, sizeof sa);
  }
  static RawClient Unix(const std::string& path) {
    RawClient c;
    c.fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, sizeof sa.sun_path - 1);
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) c.Close();
    return c;
  }
  RawClient() = default;
  RawClient(RawClient&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RawClient& operator=(RawClient&& o) noexcept {
    Close();
    fd_ = o.fd_;
    o.fd_ = -1;
    return *this;
  }
  ~RawClient() { Close(); }

  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& bytes) {
    return fd_ >= 0 && ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                           static_cast<ssize_t>(bytes.size());
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Reads until the peer closes, `want` bytes arrive, or `timeout` passes.
  std::string Read(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                   size_t want = SIZE_MAX) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < want) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads one whole response whose headers carry Content-Length (no body for HEAD).
  std::string ReadResponse(bool head = false) {
    std::string out;
    while (out.find("\r\n\r\n") == std::string::npos) {
      std::string more = Read(std::chrono::milliseconds(5000), 1);
      if (more.empty()) return out;
      out += more;
    }
    size_t header_end = out.find("\r\n\r\n") + 4;
    size_t length = 0;
    size_t cl = out.find("Content-Length: ");
    if (cl != std::string::npos && cl < header_end) length = std::stoul(out.substr(cl + 16));
    if (head) length = 0;
    while (out.size() < header_end + length) {
      std::string more = Read(std::chrono::milliseconds(5000), header_end + length - out.size());
      if (more.empty()) break;
      out += more;
    }
    return out;
  }
  bool closed() const { return closed_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  static RawClient Connect(int family, const void* address, socklen_t length) {
    RawClient c;
    c.fd_ = ::socket(family, SOCK_STREAM, 0);
    if (::connect(c.fd_, static_cast<const sockaddr*>(address), length) != 0) c.Close();
    return c;
  }
  int fd_ = -1;
  bool closed_ = false;
};

// Polls `done` until it holds or `timeout` passes; returns whether it held. Only for what a test
// cannot wait on directly: a state another thread or process changes without telling anyone
// (e.g. the server's connection count after a client left). Anything that signals (a future, a
// callback, a posted handler) is waited on instead.
template <typename Predicate>
bool WaitUntil(Predicate done,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace metastack::http::testing
