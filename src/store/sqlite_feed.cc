#include "store/sqlite_feed.h"

#include "base/log.h"
#include "store/sqlite_rows.h"

namespace metastack::store::sqlite {

Status RecordChanges(Connection& db, const std::vector<Change>& changes, int64_t keep) {
  if (changes.empty()) return Ok();
  for (const Change& change : changes)
    METASTACK_RETURN_IF_ERROR(
        Run(db, "INSERT INTO changes (revision, kind, id, deleted) VALUES (?1, ?2, ?3, ?4)",
            change.revision, internal::KindName(change.kind), change.id, int64_t{change.deleted}));
  return Run(db, "DELETE FROM changes WHERE revision <= ?1", changes.back().revision - keep);
}

Result<FeedBatch> ReadFeed(Connection& db, int64_t after, int64_t max_rows) {
  FeedBatch batch;
  batch.after = after;
  METASTACK_ASSIGN_OR_RETURN(batch.current, ReadRevision(db));
  if (batch.current == after) return batch;
  if (batch.current < after || batch.current - after > max_rows) {
    batch.gap = true;
    return batch;
  }
  METASTACK_ASSIGN_OR_RETURN(
      Statement stmt, Bound(db,
                            "SELECT revision, kind, id, deleted FROM changes WHERE revision > ?1 "
                            "ORDER BY revision",
                            after));
  int64_t expected = after + 1;
  while (true) {
    METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::optional<Change::Kind> kind = internal::KindFromName(stmt.Text(1));
    if (stmt.Int(0) != expected || !kind) break;
    batch.changes.push_back({expected, *kind, stmt.Text(2), stmt.Int(3) != 0});
    ++expected;
  }
  // Contiguous up to the counter, or a gap: rows pruned, or revisions without rows.
  if (expected != batch.current + 1) {
    batch.gap = true;
    batch.changes.clear();
  }
  return batch;
}

void FeedCursor::Publish(const FeedBatch& batch) {
  std::lock_guard lock(mu_);
  int64_t announced = announced_.load(std::memory_order_relaxed);
  if (!batch.gap && batch.after <= announced) {
    // The batch holds every revision from announced+1 to its end: what is new in it.
    for (const Change& change : batch.changes) {
      if (change.revision <= announced) continue;
      hub_.Publish(change);
      announced = change.revision;
    }
  } else if (batch.current > announced || batch.current < batch.after) {
    // Something between announced and batch.current cannot be told (or the store went back
    // to an older revision): every cache drops everything.
    hub_.Publish(Change{batch.current, Change::Kind::kInstance, "", false});
    announced = batch.current;
  }
  announced_.store(announced, std::memory_order_release);
}

Watcher::Watcher(std::string path, std::string label, Options options, FeedCursor& cursor)
    : path_(std::move(path)), label_(std::move(label)), options_(options), cursor_(cursor) {}

Watcher::~Watcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watcher::Start() {
  std::unique_lock lock(mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  cv_.wait(lock, [&] { return first_poll_done_ || stop_; });
}

void Watcher::Run() {
  bool failing = false;
  while (true) {
    Status polled = Poll();
    // One line per streak of failures, not one per tick.
    if (!polled && !failing)
      LogWarning("store", "change feed: " + polled.error().ToString() + " (retrying)");
    else if (polled && failing)
      LogInfo("store", label_ + ": change feed resumed");
    failing = !polled;
    std::unique_lock lock(mu_);
    if (!first_poll_done_) {
      first_poll_done_ = true;
      cv_.notify_all();
    }
    if (cv_.wait_for(lock, options_.poll_interval, [&] { return stop_; })) return;
  }
}

Status Watcher::Poll() {
  if (!db_) {
    // No busy wait: a tick that meets a lock simply retries on the next one, and the
    // destructor never waits on SQLite's busy handler.
    METASTACK_ASSIGN_OR_RETURN(
        auto db, Connection::Open(path_, label_, {false, std::chrono::milliseconds(0), 0}));
    METASTACK_RETURN_IF_ERROR(db->Exec("PRAGMA query_only = ON"));
    db_ = std::move(db);
  }
  METASTACK_ASSIGN_OR_RETURN(std::string version, db_->QueryText("PRAGMA data_version"));
  if (version == data_version_) return Ok();
  METASTACK_ASSIGN_OR_RETURN(FeedBatch batch, ReadSnapshot());
  cursor_.Publish(batch);
  data_version_ = std::move(version);
  return Ok();
}

Result<FeedBatch> Watcher::ReadSnapshot() {
  METASTACK_RETURN_IF_ERROR(sqlite::Run(*db_, "BEGIN"));
  auto batch = ReadFeed(*db_, cursor_.announced(), options_.max_batch);
  db_->Rollback();  // a read transaction: ends it, releasing the WAL snapshot
  return batch;
}

}  // namespace metastack::store::sqlite
