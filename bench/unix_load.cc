// unix_load: a closed-loop HTTP/1.1 load generator for a UNIX socket, for the benches that
// load `metastack agent` on its socket as the ns-proxy does (wrk speaks TCP only).
//
//   unix_load SOCKET PATH [-c CONNS] [-t THREADS] [-d SECONDS] [-H 'Name: value']...
//
// Each of CONNS keep-alive connections (spread over THREADS threads, one epoll loop each) sends
// `GET PATH HTTP/1.1` with the -H headers, waits for the whole answer (Content-Length framing;
// an answer without it counts as a read error), and sends the next, for SECONDS. A connection
// the server closes (or answers with Connection: close) is opened again. Prints one line in
// the format of the wrk scripts' (bench/proxy_bench.lua), so bench/common.sh's `field` and
// `result_row` read it:
//   RESULT requests= seconds= rps= p50_ms= p90_ms= p99_ms= max_ms= non2xx= connect= read=
//          write= timeout=0
// Latency is from the request's write to the answer's last byte, per answer.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket_path;
  std::string request;
  int connections = 64;
  int threads = 2;
  double seconds = 10;
};

struct Counts {
  std::vector<uint32_t> latency_us;
  uint64_t non2xx = 0;
  uint64_t connect_errors = 0;
  uint64_t read_errors = 0;
  uint64_t write_errors = 0;
};

struct Conn {
  int fd = -1;
  std::string in;
  Clock::time_point sent_at;
};

int Open(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Case-insensitive search of a header's value in a header block; empty if absent.
std::string_view HeaderValue(std::string_view head, std::string_view name) {
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    std::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return v;
    }
  }
  return {};
}

// One thread's connections until `end`.
void Run(const Options& o, int connections, Clock::time_point end, Counts& counts) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(connections);
  auto send = [&](size_t i) {
    Conn& c = conns[i];
    for (;;) {
      if (c.fd < 0) {
        c.fd = Open(o.socket_path);
        if (c.fd < 0) {
          ++counts.connect_errors;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (Clock::now() >= end) return;
          continue;
        }
        epoll_event ev{.events = EPOLLIN, .data = {.u64 = i}};
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      }
      c.in.clear();
      c.sent_at = Clock::now();
      // A request of a few hundred bytes always fits an idle UNIX socket's buffer.
      if (::send(c.fd, o.request.data(), o.request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(o.request.size())) {
        return;
      }
      ++counts.write_errors;
      ::close(c.fd);
      c.fd = -1;
    }
  };
  for (int i = 0; i < connections; ++i) send(i);
  std::vector<epoll_event> events(connections);
  char buf[65536];
  while (Clock::now() < end) {
    int n = ::epoll_wait(ep, events.data(), connections, 50);
    for (int k = 0; k < n; ++k) {
      size_t i = events[k].data.u64;
      Conn& c = conns[i];
      bool reopen = false;
      for (;;) {
        ssize_t got = ::recv(c.fd, buf, sizeof(buf), 0);
        if (got > 0) {
          c.in.append(buf, got);
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        reopen = true;  // closed or failed before the whole answer came
        break;
      }
      size_t head_end = c.in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string_view head(c.in.data(), head_end);
        std::string_view length = HeaderValue(head, "Content-Length");
        if (length.empty()) {
          ++counts.read_errors;
          ::close(c.fd);
          c.fd = -1;
          send(i);
          continue;
        }
        size_t total = head_end + 4 + std::strtoull(std::string(length).c_str(), nullptr, 10);
        if (c.in.size() >= total) {
          auto took = Clock::now() - c.sent_at;
          counts.latency_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
          if (head.size() < 12 || head[9] != '2') ++counts.non2xx;
          std::string_view connection = HeaderValue(head, "Connection");
          if (reopen || connection == "close" || connection == "Close") {
            ::close(c.fd);
            c.fd = -1;
          }
          if (Clock::now() < end) send(i);
          continue;
        }
      }
      if (reopen) {
        ++counts.read_errors;
        ::close(c.fd);
        c.fd = -1;
        if (Clock::now() < end) send(i);
      }
    }
  }
  for (Conn& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(ep);
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: unix_load SOCKET PATH [-c CONNS] [-t THREADS] [-d SECONDS] "
               "[-H 'Name: value']...\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  std::string headers;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage();
      return argv[++i];
    };
    if (a == "-c") {
      o.connections = std::atoi(value());
    } else if (a == "-t") {
      o.threads = std::atoi(value());
    } else if (a == "-d") {
      o.seconds = std::atof(value());
    } else if (a == "-H") {
      headers += value();
      headers += "\r\n";
    } else {
      positional.emplace_back(a);
    }
  }
  if (positional.size() != 2 || o.connections < 1 || o.threads < 1 || o.seconds <= 0) Usage();
  o.threads = std::min(o.threads, o.connections);
  o.socket_path = positional[0];
  o.request = "GET " + positional[1] + " HTTP/1.1\r\nHost: localhost\r\n" + headers + "\r\n";

  std::vector<Counts> counts(o.threads);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (int t = 0; t < o.threads; ++t) {
    int mine = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    threads.emplace_back(Run, std::cref(o), mine, end, std::ref(counts[t]));
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  Counts all;
  for (auto& c : counts) {
    all.latency_us.insert(all.latency_us.end(), c.latency_us.begin(), c.latency_us.end());
    all.non2xx += c.non2xx;
    all.connect_errors += c.connect_errors;
    all.read_errors += c.read_errors;
    all.write_errors += c.write_errors;
  }
  std::sort(all.latency_us.begin(), all.latency_us.end());
  auto percentile = [&](double p) {
    if (all.latency_us.empty()) return 0.0;
    size_t k = static_cast<size_t>(p / 100 * (all.latency_us.size() - 1) + 0.5);
    return all.latency_us[k] / 1000.0;
  };
  std::printf(
      "RESULT requests=%zu seconds=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
      "max_ms=%.3f non2xx=%llu connect=%llu read=%llu write=%llu timeout=0\n",
      all.latency_us.size(), seconds, all.latency_us.size() / seconds, percentile(50),
      percentile(90), percentile(99), percentile(100), static_cast<unsigned long long>(all.non2xx),
      static_cast<unsigned long long>(all.connect_errors),
      static_cast<unsigned long long>(all.read_errors),
      static_cast<unsigned long long>(all.write_errors));
  return 0;
}
