#pragma once
// The Store in one SQLite file: the default backend of a single-host deployment.
//
// Durability: WAL journal with synchronous=FULL, so a write that returned has been fsynced and
// survives kill -9 of the writer or a power cut. Every write is one BEGIN IMMEDIATE transaction
// that also keeps the port index in step with the document; a write that fails rolls back and
// changes nothing.
//
// Concurrency: thread-safe. Writes go through one connection behind a mutex (SQLite admits one
// writer per file anyway; queuing in-process is cheaper than spinning on SQLITE_BUSY). Reads use
// a pool of read-only connections, one per concurrent caller: under WAL a reader sees the last
// commit and never waits for the writer. Other processes may open the same file; their writes
// wait up to `busy_timeout` for the lock, then fail with kUnavailable.
//
// Change feed: every process that opens the file hears every commit, its own and any other
// process's (another service, the CLI with --store sqlite:PATH, a second Store object).
// - Each write also inserts one row per change into the `changes` table, in its transaction,
//   and prunes it to the last `changes_kept` revisions.
// - The writing Store announces after COMMIT, on the writer's thread, the changes it has not
//   announced yet up to its own: a write that returned has been announced in its process.
// - On the first Subscribe a watcher thread starts (one read connection; the CLI, which never
//   subscribes, has none). Every `feed_poll_interval` (5 ms) it checks PRAGMA data_version and
//   announces what other processes committed. Bound: a commit by any process is announced in
//   every subscribed process within the poll interval plus one read of the table: measured
//   across processes p50 3-5 ms, p99 8-22 ms on a loaded 2-vCPU machine (bench/RESULTS.md);
//   50 ms is the stated bound.
// - Each subscriber hears each revision at most once, in increasing order, whichever thread
//   announces it (a restore to an older revision starts the count again, after its flush). A
//   revision the feed cannot tell (its row pruned before this process read it, written by a binary
//   older than the table, a file restored to an older revision) is covered by "flush all"
//   (kInstance, empty id, revision = the store's revision then).
// - A subscriber may hear changes committed between OpenSqliteStore and its Subscribe.
// - Not covered: a file replaced by another inode (mv over it) while processes have it open;
//   they keep reading the old one and must be restarted.
// Callbacks run on the writer's or the watcher's thread and must not call the Store. The
// destructor stops the watcher at once (a condition variable; no sleep is waited out).
//
// Schema: migrated at open (PRAGMA user_version). A file whose schema is newer than this binary
// knows is refused rather than written.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace metastack::store {

struct SqliteOptions {
  // How long a write waits for another process's write lock before kUnavailable.
  std::chrono::milliseconds busy_timeout{5000};
  // Read connections kept open between calls; more concurrent readers open short-lived ones.
  size_t max_idle_readers = 8;
  // How much of the file read connections memory-map. Mapped pages are the OS page cache,
  // shared by every connection, and a lookup reads them without a syscall or a copy into each
  // connection's private 2 MiB cache: at 100,000 instances the router lookup's p99 drops from
  // 24 to 15 us (bench/RESULTS.md). The price is SQLite's documented one: an I/O error on the
  // mapped file raises SIGBUS instead of returning an error. 0 turns it off.
  int64_t reader_mmap_bytes = int64_t{1} << 30;
  // How often the change feed's watcher asks whether any process committed (PRAGMA
  // data_version, about 2 us): the bound on how late another process's commit is announced.
  std::chrono::milliseconds feed_poll_interval{5};
  // Rows of the feed table each write keeps (the last N revisions, ~60 bytes each). A process
  // that falls further behind than this (stopped, or one transaction of more changes) gets a
  // "flush all" instead of the changes. 10,000 is 10 s of writes at a rate no admin API
  // sustains on one fsync'd file, in well under 1 MiB. At least 1.
  int64_t changes_kept = 10000;
};

// Opens (creating if missing) the database at `path`. Errors name it as "sqlite:PATH: ...".
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               const SqliteOptions& options = {});

// Benchmarks and tests only: creates `instances` in ONE transaction (one fsync), each exactly as
// CreateInstance would (same checks, one revision and one feed row each, announced after the
// commit; as one "flush all" when there are more than `changes_kept`). All or nothing.
// kInvalidArgument when `store` is not a SQLite store.
Status BulkCreateInstancesForTesting(Store& store, const std::vector<core::Instance>& instances);

}  // namespace metastack::store
