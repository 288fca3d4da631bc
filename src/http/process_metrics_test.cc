// The procfs parsers on fixed text, and this process's own figures.
#include "http/process_metrics.h"

#include <gtest/gtest.h>

#include <ctime>

namespace metastack::http {
namespace {

// proc(5): pid (comm) state ppid ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) ...
constexpr std::string_view kStat =
    "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1500 0 3 0 250 75 0 0 20 0 9 0 123456 "
    "987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessMetricsTest, ParsesProcStatPastTheCommandName) {
  auto p = ParseProcStat(kStat);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->utime_ticks, 250u);
  EXPECT_EQ(p->stime_ticks, 75u);
  EXPECT_EQ(p->start_ticks, 123456u);
  EXPECT_EQ(p->vsize_bytes, 987654321u);
  EXPECT_EQ(p->rss_pages, 2048u);
  EXPECT_FALSE(ParseProcStat("4242 (short) S 1 2 3\n"));
  EXPECT_FALSE(ParseProcStat("no parenthesis"));
  EXPECT_FALSE(ParseProcStat(std::string(kStat).replace(kStat.find("250"), 3, "2x0")));
}

TEST(ProcessMetricsTest, ParsesBootTime) {
  EXPECT_EQ(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), 1700000000u);
  EXPECT_EQ(ParseBootTime("btime 17"), 17u);
  EXPECT_FALSE(ParseBootTime("cpu 1\nbtimes 5\n"));
}

TEST(ProcessMetricsTest, ParsesTheSoftLimitOnOpenFiles) {
  constexpr std::string_view kLimits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max processes             63419                63419                processes \n"
      "Max open files            1024                 524288               files     \n"
      "Max locked memory         8388608              8388608              bytes     \n";
  EXPECT_EQ(ParseMaxOpenFiles(kLimits), 1024);
  EXPECT_EQ(ParseMaxOpenFiles("Max open files unlimited unlimited files\n"),
            18446744073709551615.0);
  EXPECT_FALSE(ParseMaxOpenFiles("Max processes 5 5\n"));
  EXPECT_FALSE(ParseMaxOpenFiles("Max open files\n"));
}

TEST(ProcessMetricsTest, ThisProcessFigures) {
  ProcessStats s = ReadProcessStats();
  ASSERT_TRUE(s.cpu_seconds && s.resident_bytes && s.virtual_bytes && s.start_time_seconds &&
              s.open_fds && s.max_fds);
  EXPECT_GE(*s.cpu_seconds, 0);
  EXPECT_GT(*s.resident_bytes, 0);
  EXPECT_GE(*s.virtual_bytes, *s.resident_bytes);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*s.start_time_seconds, now + 1);
  EXPECT_GT(*s.start_time_seconds, now - 3600);
  EXPECT_GE(*s.open_fds, 3);  // standard input, output and error
  EXPECT_GE(*s.max_fds, *s.open_fds);
}

}  // namespace
}  // namespace metastack::http
