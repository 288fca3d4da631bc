#pragma once
// The receiving end of the PostgreSQL change feed: one dedicated connection that LISTENs on
// 'metastack_changes' and a thread that publishes each notification to a ChangeHub, whichever
// process made the write. Internal to store/.
//
// The thread waits with poll() on the connection's socket and an eventfd, so the destructor
// stops it at once even while it is connecting or backing off. When the connection is lost it
// reconnects with exponential backoff (100 ms .. 5 s) and then publishes the "flush all"
// change (kInstance, empty id; see postgres_store.h), because notifications sent meanwhile are
// gone. The first failed connect of a streak is logged as a warning ("change feed: <why>
// (retrying)"), and the reconnect after it as "change feed resumed". Callbacks run on this
// thread. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "store/common.h"
#include "store/postgres_conn.h"

namespace metastack::store::pg {

// "<revision> <instance|network|router> <id> <0|1>" -> Change; nullopt if malformed.
std::optional<Change> ParseChangePayload(std::string_view payload);

class Listener {
 public:
  // `hub` must outlive the Listener.
  Listener(ConnParams params, internal::ChangeHub& hub);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Starts the thread on the first call. Returns once the first LISTEN is in effect (or that
  // attempt failed), so that every write committed after it returns is delivered.
  void Start();

 private:
  enum class Wake { kReady, kTimeout, kStop };
  void Run();
  // Non-blocking connect, LISTEN and the revision to flush at; nullptr on failure (`why` then
  // says what failed) or stop (`why` left empty).
  PGconn* Connect(int64_t* revision, std::string* why);
  // Delivers notifications until the connection is lost (true) or the Listener stops (false).
  bool Pump(PGconn* conn);
  Wake WaitFor(int fd, short events, std::chrono::milliseconds timeout);
  void MarkFirstAttemptDone();

  const ConnParams params_;
  internal::ChangeHub& hub_;
  int wake_fd_;  // eventfd; readable once the destructor runs

  std::mutex mu_;
  std::condition_variable first_attempt_cv_;
  bool first_attempt_done_ = false;
  std::thread thread_;
};

}  // namespace metastack::store::pg
