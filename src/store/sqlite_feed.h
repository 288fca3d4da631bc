#pragma once
// The SQLite store's cross-process change feed. Internal to store/.
//
// Every write records each change it makes as a row of the `changes` table (revision primary
// key, kind, id, deleted) in its own transaction, and prunes rows older than the last
// `changes_kept` revisions there too (RecordChanges). Every revision has exactly one row, so a
// process that has announced everything up to revision W finds the rest as the rows
// W+1 .. store_revision, contiguous; anything else (rows pruned past W, revisions written by a
// binary that predates the table, a file restored to an older revision) is a gap, announced as
// "flush all" (kind kInstance, empty id, revision = the store's revision then).
//
// FeedCursor holds W for one Store and publishes batches read from the table to its ChangeHub:
// the Store's writer after each COMMIT (so a write that returned has been announced in its own
// process), and a Watcher thread for commits by anyone else. Both publish through the cursor,
// under its mutex, and only revisions above W, so each process sees each revision at most once
// and in increasing order.
//
// Watcher: one thread and one read-only connection per Store, started by Start() (the Store
// does so on its first Subscribe). Every `poll_interval` it asks the connection's
// PRAGMA data_version, which changes when any other connection, in any process, commits; on a
// change it reads the feed and publishes it. Read errors (SQLITE_BUSY during another process's
// WAL recovery, a file that cannot be opened yet) are retried on the next tick with nothing
// lost: W only moves when a batch is published. The destructor wakes it through a condition
// variable and joins at once. Callbacks run on the watcher's (or the writer's) thread and must
// not call the Store. Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/common.h"
#include "store/sqlite_db.h"

namespace metastack::store::sqlite {

// What the feed holds after a revision: the changes in revision order, or a gap.
struct FeedBatch {
  int64_t after = 0;    // what the reader asked for
  int64_t current = 0;  // store_revision in the same snapshot
  bool gap = false;     // the rows after `after` are not exactly after+1 .. current
  std::vector<Change> changes;
};

// Inside a write transaction: inserts one `changes` row per change and deletes the rows more
// than `keep` revisions older than the last of them.
Status RecordChanges(Connection& db, const std::vector<Change>& changes, int64_t keep);

// Inside a transaction (one snapshot): the changes after revision `after`. More than `max_rows`
// of them is reported as a gap without reading them.
Result<FeedBatch> ReadFeed(Connection& db, int64_t after, int64_t max_rows);

class FeedCursor {
 public:
  // `hub` must outlive the cursor. `revision`: what counts as announced already.
  FeedCursor(internal::ChangeHub& hub, int64_t revision) : hub_(hub), announced_(revision) {}

  // The revision up to which everything has been announced (a hint: it may move at once).
  int64_t announced() const { return announced_.load(std::memory_order_acquire); }

  // Publishes what of `batch` is newer than announced(): "flush all" for a gap (or for a
  // store whose revision went backwards), else each change above it, in order.
  void Publish(const FeedBatch& batch);

 private:
  internal::ChangeHub& hub_;
  std::mutex mu_;  // serialises Publish: the writer's and the watcher's
  std::atomic<int64_t> announced_;
};

class Watcher {
 public:
  struct Options {
    std::chrono::milliseconds poll_interval{5};
    int64_t max_batch = 10000;  // more changes than this at once are announced as a gap
  };
  // `cursor` must outlive the Watcher.
  Watcher(std::string path, std::string label, Options options, FeedCursor& cursor);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Starts the thread on the first call and returns once it has read the feed once (or failed
  // to), so that a commit made after Start() returns is announced.
  void Start();

 private:
  void Run();
  // One tick: reads and publishes the feed if data_version moved.
  Status Poll();
  Result<FeedBatch> ReadSnapshot();

  const std::string path_;
  const std::string label_;
  const Options options_;
  FeedCursor& cursor_;

  std::unique_ptr<Connection> db_;  // the watcher thread's only
  std::string data_version_;        // last seen; empty before the first read

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool first_poll_done_ = false;
  std::thread thread_;
};

}  // namespace metastack::store::sqlite
