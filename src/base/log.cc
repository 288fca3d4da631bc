#include "base/log.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

namespace metastack {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mu;
constexpr const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
// syslog(3) priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR.
constexpr const char* kPriorities[] = {"<7>", "<6>", "<4>", "<3>"};

std::string UtcNow() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  std::tm tm{};
  gmtime_r(&tv.tv_sec, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(ts) + "." + std::to_string(tv.tv_usec / 1000 + 1000).substr(1) + "Z";
}

void AppendOneLine(std::string& out, std::string_view message) {
  for (char c : message) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
}

// Whether standard error is the stream JOURNAL_STREAM names. Asked at each event: systemd sets
// JOURNAL_STREAM=<device>:<inode> of the stream it connected, and a process whose standard
// error was redirected since (by its parent, or by a test) inherits the variable but not the
// stream.
bool LogToJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream || !*stream) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Log(LogLevel level, std::string_view component, std::string_view message) {
  if (!LogEnabled(level)) return;
  auto i = static_cast<int>(level);
  std::string line = LogToJournal() ? std::string(kPriorities[i]) : UtcNow() + " ";
  line += kNames[i];
  line += " ";
  line += component;
  line += ": ";
  AppendOneLine(line, message);
  line += "\n";
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace metastack
