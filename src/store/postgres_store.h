#pragma once
// The Store in PostgreSQL: many API and agent processes on many hosts share one database.
//
// Ownership and threads: the returned Store owns a pool of libpq connections (a libpq
// connection is not thread-safe, so each call borrows one for its duration) and, once someone
// subscribes, one more connection and a thread that LISTENs for changes. Every method is
// thread-safe and blocks on the network. Destroying the Store stops the listener promptly and
// closes every connection; no call may be in flight then.
//
// Consistency: every write is one READ COMMITTED transaction that locks the rows it checks
// (SELECT ... FOR UPDATE / FOR SHARE) and takes its revision last from a single counter row,
// held to commit. So concurrent writers through any number of processes never lose updates,
// commits happen in revision order, and CurrentRevision() is the newest committed one.
// Deadlocks, serialization failures and unique violations that raced a check are retried a
// bounded number of times (the retry then reports the exact error the check gives).
//
// Change feed: each write NOTIFYs 'metastack_changes' with "<revision> <kind> <id> <0|1>"
// inside its transaction, so the notification is delivered at commit to every process. When
// the listener connection is lost it reconnects with backoff and then publishes a "flush all"
// change: kind kInstance, empty id, revision = the store's revision when the feed resumed.
// Changes may have been missed before it: caches drop everything and reload.
//
// Errors: an unreachable server is kUnavailable ("postgresql: cannot connect: ..."); a
// connection lost while COMMIT was in flight is kUnavailable too, and that write may or may
// not have been applied. A schema newer than this binary knows fails the open with
// kInvalidArgument ("postgresql: schema version N is newer than this metastack supports (M)").

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace metastack::store {

struct PostgresOptions {
  size_t pool_size = 4;  // connections for calls; the listener has its own
  // Applies unless the URI sets connect_timeout itself; libpq's default is to wait forever.
  int connect_timeout_seconds = 5;
};

// The schema version this binary creates and understands.
inline constexpr int kPostgresSchemaVersion = 4;

// `conninfo`: a libpq URI ("postgresql://user@host/db", "postgres://...") or key=value string.
// Connects once and migrates the schema (serialised across processes by an advisory lock).
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo,
                                                 const PostgresOptions& options = {});

// Creates every instance in one transaction of a few set-based statements: all or none. For
// benches that need a large population (1,000,000 instances in minutes; CreateInstance's seven
// round trips each, and n updates of the one revision row in a transaction, would take an hour).
// Not CreateInstance's checks: only the schema's constraints (a taken uuid or IP, a port on a
// network that does not exist: kConflict, nothing written; the network's router is not
// checked); revisions last+1 .. last+n in order, but nothing is announced to subscribers.
// kInvalidArgument for another Store.
Status PostgresBulkCreateInstancesForTesting(Store& store,
                                             const std::vector<core::Instance>& instances);

}  // namespace metastack::store
