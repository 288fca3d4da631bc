#include "base/file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <sstream>

namespace metastack {

Result<std::string> ReadFile(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  return ReadFile(path, true);
}

Result<std::string> ReadFile(const std::string& path, bool follow_last_link) {
  auto fail = [&](int err) {
    return std::unexpected(MakeError(
        err == ENOENT || err == ENOTDIR ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument,
        std::string("cannot read: ") + std::strerror(err), path));
  };
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (follow_last_link ? 0 : O_NOFOLLOW));
  if (fd < 0) return fail(errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return fail(err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

void SystemRandom(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("getrandom");
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
}

void BufferedSystemRandom(std::span<uint8_t> out) {
  static constexpr size_t kPool = 16 * 1024;
  thread_local std::array<uint8_t, kPool> pool;
  thread_local size_t used = kPool;
  if (out.size() > kPool / 4) return SystemRandom(out);
  if (kPool - used < out.size()) {
    SystemRandom(pool);
    used = 0;
  }
  std::memcpy(out.data(), pool.data() + used, out.size());
  std::memset(pool.data() + used, 0, out.size());
  used += out.size();
}

std::string TodayUtc() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace metastack
