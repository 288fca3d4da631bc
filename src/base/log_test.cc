// The log facade's lines as standard error receives them: the plain form, the journal form
// (JOURNAL_STREAM naming standard error), and the level threshold.
#include "base/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "base/file.h"

namespace metastack {
namespace {

// Standard error redirected to a temporary file for the test's lifetime.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::fflush(stderr);
    fd_ = mkstemp(path_);
    ASSERT_GE(fd_, 0);
    saved_ = dup(2);
    ASSERT_GE(saved_, 0);
    ASSERT_EQ(dup2(fd_, 2), 2);
    unsetenv("JOURNAL_STREAM");
  }
  void TearDown() override {
    Restore();
    close(fd_);
    unlink(path_);
    unsetenv("JOURNAL_STREAM");
    SetLogLevel(LogLevel::kInfo);
  }
  // What was written to standard error; restores it.
  std::string Written() {
    Restore();
    auto text = ReadFile(path_);
    return text ? *text : text.error().ToString();
  }
  // "<device>:<inode>" of the file standard error was sent to, as systemd writes it.
  std::string StreamId() const {
    struct stat st {};
    fstat(fd_, &st);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }
  char path_[32] = "/tmp/log_test.XXXXXX";
  int fd_ = -1;
  int saved_ = -1;
};

TEST_F(LogTest, PlainLinesStartWithTheUtcTime) {
  LogInfo("api", "listening on 127.0.0.1:8775");
  LogError("agent", "upstream down");
  std::string text = Written();
  EXPECT_TRUE(
      std::regex_match(text, std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z "
                                        "INFO api: listening on 127\\.0\\.0\\.1:8775\n"
                                        "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z "
                                        "ERROR agent: upstream down\n")))
      << text;
}

TEST_F(LogTest, JournalLinesStartWithTheSyslogPriority) {
  setenv("JOURNAL_STREAM", StreamId().c_str(), 1);
  SetLogLevel(LogLevel::kDebug);
  LogDebug("proxy", "binding qrouter-1");
  LogInfo("api", "listening");
  LogWarning("store", "slow commit");
  LogError("agent", "upstream down");
  EXPECT_EQ(Written(),
            "<7>DEBUG proxy: binding qrouter-1\n"
            "<6>INFO api: listening\n"
            "<4>WARNING store: slow commit\n"
            "<3>ERROR agent: upstream down\n");
}

// A child of a journald-connected process, its standard error redirected, inherits the
// variable: lines keep the plain form there.
TEST_F(LogTest, AJournalStreamOtherThanStandardErrorIsIgnored) {
  for (const char* value : {"1:1", "not a stream", ""}) {
    setenv("JOURNAL_STREAM", value, 1);
    LogInfo("api", value);
  }
  std::string text = Written();
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), 'Z'), 3) << text;
}

TEST_F(LogTest, TheLevelIsAThreshold) {
  setenv("JOURNAL_STREAM", StreamId().c_str(), 1);
  struct Case {
    LogLevel threshold;
    const char* want;
  };
  const Case cases[] = {
      {LogLevel::kDebug, "<7>DEBUG t: d\n<6>INFO t: i\n<4>WARNING t: w\n<3>ERROR t: e\n"},
      {LogLevel::kInfo, "<6>INFO t: i\n<4>WARNING t: w\n<3>ERROR t: e\n"},
      {LogLevel::kWarning, "<4>WARNING t: w\n<3>ERROR t: e\n"},
      {LogLevel::kError, "<3>ERROR t: e\n"},
  };
  std::string want;
  for (const auto& c : cases) {
    SetLogLevel(c.threshold);
    EXPECT_EQ(LogEnabled(LogLevel::kDebug), c.threshold == LogLevel::kDebug);
    LogDebug("t", "d");
    LogInfo("t", "i");
    LogWarning("t", "w");
    LogError("t", "e");
    want += c.want;
  }
  EXPECT_EQ(Written(), want);
}

TEST_F(LogTest, AnEventStaysOneLine) {
  setenv("JOURNAL_STREAM", StreamId().c_str(), 1);
  LogError("store", "query failed:\nERROR: relation\r\n");
  EXPECT_EQ(Written(), "<3>ERROR store: query failed:\\nERROR: relation\\r\\n\n");
}

}  // namespace
}  // namespace metastack
