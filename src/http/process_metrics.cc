#include "http/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <limits>
#include <string>
#include <vector>

#include "base/file.h"

namespace metastack::http {
namespace {

std::vector<std::string_view> Fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (true) {
    i = s.find_first_not_of(" \t\n", i);
    if (i == std::string_view::npos) return out;
    size_t end = s.find_first_of(" \t\n", i);
    out.push_back(s.substr(i, end == std::string_view::npos ? end : end - i));
    if (end == std::string_view::npos) return out;
    i = end;
  }
}

template <class T>
std::optional<T> Number(std::string_view s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  double n = 0;
  while (dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ++n;
  closedir(dir);
  return n;
}

}  // namespace

std::optional<ProcStat> ParseProcStat(std::string_view stat) {
  size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> f = Fields(stat.substr(paren + 1));  // f[0] is field 3
  if (f.size() < 22) return std::nullopt;
  auto utime = Number<uint64_t>(f[11]), stime = Number<uint64_t>(f[12]);
  auto start = Number<uint64_t>(f[19]), vsize = Number<uint64_t>(f[20]);
  auto rss = Number<int64_t>(f[21]);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  return ProcStat{*utime, *stime, *start, *vsize,
                  static_cast<uint64_t>(std::max<int64_t>(*rss, 0))};
}

std::optional<uint64_t> ParseBootTime(std::string_view stat) {
  for (size_t i = 0; i < stat.size();) {
    size_t end = stat.find('\n', i);
    std::string_view line = stat.substr(i, end == std::string_view::npos ? end : end - i);
    std::vector<std::string_view> f = Fields(line);
    if (f.size() == 2 && f[0] == "btime") return Number<uint64_t>(f[1]);
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return std::nullopt;
}

std::optional<double> ParseMaxOpenFiles(std::string_view limits) {
  constexpr std::string_view kLine = "Max open files";
  size_t at = limits.find(kLine);
  if (at == std::string_view::npos || (at > 0 && limits[at - 1] != '\n')) return std::nullopt;
  size_t end = limits.find('\n', at);
  size_t from = at + kLine.size();
  std::vector<std::string_view> f =
      Fields(limits.substr(from, end == std::string_view::npos ? end : end - from));
  if (f.empty()) return std::nullopt;
  if (f[0] == "unlimited") return static_cast<double>(std::numeric_limits<uint64_t>::max());
  auto v = Number<uint64_t>(f[0]);
  return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}

ProcessStats ReadProcessStats() {
  ProcessStats s;
  long ticks = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  if (auto text = ReadFile("/proc/self/stat"); text && ticks > 0 && page > 0) {
    if (auto p = ParseProcStat(*text)) {
      s.cpu_seconds = static_cast<double>(p->utime_ticks + p->stime_ticks) / ticks;
      s.resident_bytes = static_cast<double>(p->rss_pages) * page;
      s.virtual_bytes = static_cast<double>(p->vsize_bytes);
      if (auto boot = ReadFile("/proc/stat"))
        if (auto btime = ParseBootTime(*boot))
          s.start_time_seconds =
              static_cast<double>(*btime) + static_cast<double>(p->start_ticks) / ticks;
    }
  }
  s.open_fds = OpenFds();
  if (auto text = ReadFile("/proc/self/limits")) s.max_fds = ParseMaxOpenFiles(*text);
  return s;
}

}  // namespace metastack::http
