#pragma once
// The figures behind the process series Prometheus' client libraries export
// (process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds, process_max_fds), read from Linux's procfs and
// sysconf(3). Each figure is absent when its source cannot be read or parsed.
//
// ReadProcessStats() reads a few small procfs files (memory, not disk); thread-safe. The
// parsers are pure.

#include <cstdint>
#include <optional>
#include <string_view>

namespace metastack::http {

struct ProcessStats {
  std::optional<double> cpu_seconds;         // user + system CPU time
  std::optional<double> resident_bytes;      // resident set size
  std::optional<double> virtual_bytes;       // virtual memory size
  std::optional<double> start_time_seconds;  // since the Unix epoch
  std::optional<double> open_fds;            // entries of /proc/self/fd
  std::optional<double> max_fds;             // RLIMIT_NOFILE's soft limit
};

ProcessStats ReadProcessStats();

// The fields of /proc/<pid>/stat (proc(5)) the series need.
struct ProcStat {
  uint64_t utime_ticks = 0;  // field 14, in clock ticks
  uint64_t stime_ticks = 0;  // field 15
  uint64_t start_ticks = 0;  // field 22, clock ticks after boot
  uint64_t vsize_bytes = 0;  // field 23
  uint64_t rss_pages = 0;    // field 24
};
// The command name (field 2) may hold spaces and parentheses: fields are counted from the
// last ')'.
std::optional<ProcStat> ParseProcStat(std::string_view stat);
// "btime" of /proc/stat: the boot time, seconds since the Unix epoch.
std::optional<uint64_t> ParseBootTime(std::string_view stat);
// The soft limit on the "Max open files" line of /proc/<pid>/limits; "unlimited" is 2^64 - 1,
// as the Prometheus clients read it.
std::optional<double> ParseMaxOpenFiles(std::string_view limits);

}  // namespace metastack::http
