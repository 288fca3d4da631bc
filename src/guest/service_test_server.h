#pragma once
// A scripted HTTP server for the metadata service client's tests: one thread, plain sockets,
// listening on 127.0.0.1 or ::1 port 0. It takes the connections one at a time, records each
// request (method, target, headers, body) and does what that connection's Step says: write a
// canned answer and close, close at once, or hang until the client gives up. It answers only
// as many connections as it has steps. Recorded requests are read under a mutex, so any thread
// may call Requests().

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace metastack::guest {

struct Received {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct Step {
  std::string answer;    // written back, then the connection is closed (empty: close at once)
  bool hang = false;     // never answer: wait until the client closes
  bool trickle = false;  // write the answer one byte at a time
};

// "HTTP/1.1 <status> X" with a Content-Length, `headers` (each ending in CRLF) and `body`.
inline std::string CannedAnswer(int status, const std::string& body,
                                const std::string& headers = {}) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + headers + "\r\n" + body;
}

class ScriptedServer {
 public:
  ScriptedServer(int family, std::vector<Step> steps) : family_(family) {
    listen_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage address{};
    socklen_t size = 0;
    if (family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      size = sizeof *in6;
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
      in4->sin_family = AF_INET;
      in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      size = sizeof *in4;
    }
    if (listen_ < 0 || bind(listen_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        listen(listen_, 16) != 0 ||
        getsockname(listen_, reinterpret_cast<sockaddr*>(&address), &size) != 0 ||
        pipe2(stop_, O_CLOEXEC) != 0)
      throw std::runtime_error("cannot start the scripted server");
    port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                     : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    thread_ = std::thread([this, steps = std::move(steps)] { Serve(steps); });
  }

  ~ScriptedServer() {
    (void)!write(stop_[1], "x", 1);
    thread_.join();
    close(stop_[0]);
    close(stop_[1]);
    close(listen_);
  }

  uint16_t port() const { return port_; }
  std::string Url() const {
    return std::string(family_ == AF_INET6 ? "http://[::1]:" : "http://127.0.0.1:") +
           std::to_string(port_);
  }
  std::vector<Received> Requests() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  // Until `fd` is readable (true) or the test ends (false).
  bool WaitReadable(int fd) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    while (poll(fds, 2, -1) < 0) {
    }
    return fds[1].revents == 0;
  }

  // Appends what `conn` sends to `buf`; false at its end or the test's.
  bool ReadMore(int conn, std::string& buf) {
    if (!WaitReadable(conn)) return false;
    char chunk[4096];
    ssize_t n = read(conn, chunk, sizeof chunk);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }

  Received ReadRequest(int conn) {
    std::string buf;
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!ReadMore(conn, buf)) return {};
    Received r;
    std::string head = buf.substr(0, end + 2);
    size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    r.method = line.substr(0, line.find(' '));
    r.target = line.substr(r.method.size() + 1, line.rfind(' ') - r.method.size() - 1);
    for (size_t at = line_end + 2; at < head.size();) {
      size_t next = head.find("\r\n", at);
      std::string field = head.substr(at, next - at);
      size_t colon = field.find(':');
      std::string name = field.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[name] = field.substr(std::min(field.size(), colon + 2));
      at = next + 2;
    }
    r.body = buf.substr(end + 4);
    size_t length =
        r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (r.body.size() < length)
      if (!ReadMore(conn, r.body)) break;
    return r;
  }

  void Serve(const std::vector<Step>& steps) {
    for (const Step& step : steps) {
      if (!WaitReadable(listen_)) return;
      int conn = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;
      Received request = ReadRequest(conn);
      {
        std::lock_guard lock(mu_);
        received_.push_back(std::move(request));
      }
      if (step.hang) {
        std::string ignored;
        while (ReadMore(conn, ignored)) {
        }
      }
      size_t piece = step.trickle ? 1 : step.answer.size();
      for (size_t at = 0; at < step.answer.size(); at += piece)
        if (send(conn, step.answer.data() + at, std::min(piece, step.answer.size() - at),
                 MSG_NOSIGNAL) < 0)
          break;
      close(conn);
    }
  }

  int family_;
  int listen_ = -1;
  int stop_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<Received> received_;
  std::thread thread_;
};

}  // namespace metastack::guest
