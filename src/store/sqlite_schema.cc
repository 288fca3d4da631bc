#include "store/sqlite_schema.h"

#include <charconv>
#include <span>

namespace metastack::store::sqlite {
namespace {

// Append-only: a released migration is never edited; a change is a new step. Each step runs in
// the same transaction as the user_version update, so a crash leaves the old version intact.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
-- One row: the store-wide revision every committed write takes the next value of.
CREATE TABLE store_revision (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
);
INSERT INTO store_revision (id, revision) VALUES (1, 0);

CREATE TABLE routers (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  project_id TEXT NOT NULL,
  revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX routers_project ON routers (project_id, id);

CREATE TABLE networks (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  project_id TEXT NOT NULL,
  router_id TEXT REFERENCES routers (id),
  revision INTEGER NOT NULL
) WITHOUT ROWID;
-- The router lookup path, and DeleteRouter's "has network N attached" check.
CREATE INDEX networks_router ON networks (router_id, id);
CREATE INDEX networks_project ON networks (project_id, id);

-- The document is the instance's canonical JSON text; a rowid table because documents can be
-- large (WITHOUT ROWID suits small rows only).
CREATE TABLE instances (
  uuid TEXT NOT NULL UNIQUE,
  project_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  document TEXT NOT NULL
);
CREATE INDEX instances_project ON instances (project_id, uuid);

-- Every port of every instance, with or without fixed IPs: what DeleteNetwork and detaching a
-- router must check, found by index instead of by parsing documents.
CREATE TABLE instance_ports (
  instance_uuid TEXT NOT NULL REFERENCES instances (uuid),
  position INTEGER NOT NULL,
  port_id TEXT NOT NULL,
  network_id TEXT NOT NULL REFERENCES networks (id),
  router_id TEXT,
  PRIMARY KEY (instance_uuid, position)
) WITHOUT ROWID;
CREATE INDEX instance_ports_network ON instance_ports (network_id, instance_uuid, position);

-- The port index: one row per fixed IP. The primary key is the UNIQUE (network_id, ip_address)
-- index, clustered, so a lookup is one b-tree search that yields the whole binding.
CREATE TABLE ports (
  network_id TEXT NOT NULL REFERENCES networks (id),
  ip_address TEXT NOT NULL,
  instance_uuid TEXT NOT NULL REFERENCES instances (uuid),
  port_id TEXT NOT NULL,
  mac TEXT NOT NULL,
  project_id TEXT NOT NULL,
  PRIMARY KEY (network_id, ip_address)
) WITHOUT ROWID;
CREATE INDEX ports_instance ON ports (instance_uuid);
)sql"},
    {2, R"sql(
-- The cross-process change feed (sqlite_feed.h): one row per revision, written in the same
-- transaction as the change it names and pruned to the last SqliteOptions::changes_kept.
-- kind: 'instance', 'network' or 'router'.
CREATE TABLE changes (
  revision INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  deleted INTEGER NOT NULL
);
)sql"},
    {3, R"sql(
-- The host whose daemon serves the namespace of a router or network (the namespace manager);
-- '' = unassigned.
ALTER TABLE routers ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE networks ADD COLUMN host TEXT NOT NULL DEFAULT '';
)sql"},
    {4, R"sql(
-- Link-local guests are found by the MAC their address names: MACs compare lowercase, and
-- (network_id, mac) is searched by index.
UPDATE ports SET mac = lower(mac);
CREATE INDEX IF NOT EXISTS ports_network_mac ON ports (network_id, mac);
)sql"},
    {5, R"sql(
-- A network's IMDSv2 session policy: NULL (unset), 'optional' or 'required'.
ALTER TABLE networks ADD COLUMN http_tokens TEXT;
)sql"},
};

Result<int> ReadVersion(Connection& db) {
  METASTACK_ASSIGN_OR_RETURN(std::string text, db.QueryText("PRAGMA user_version"));
  int version = 0;
  auto [_, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc())
    return std::unexpected(
        MakeError(ErrorCode::kInternal, db.label() + ": unreadable schema version '" + text + "'"));
  return version;
}

}  // namespace

int LatestSchemaVersion() { return std::span(kMigrations).back().version; }

Result<int> CheckSchemaVersion(Connection& db) {
  METASTACK_ASSIGN_OR_RETURN(int version, ReadVersion(db));
  if (version > LatestSchemaVersion())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     db.label() + ": schema version " + std::to_string(version) +
                                         " is newer than this metastack supports (" +
                                         std::to_string(LatestSchemaVersion()) + ")"));
  return version;
}

Status Migrate(Connection& db) {
  METASTACK_RETURN_IF_ERROR(db.BeginImmediate());
  Status applied = [&]() -> Status {
    // Read again under the write lock: another process may have migrated meanwhile.
    METASTACK_ASSIGN_OR_RETURN(int version, CheckSchemaVersion(db));
    if (version == LatestSchemaVersion()) return Ok();
    for (const Migration& step : kMigrations)
      if (step.version > version) METASTACK_RETURN_IF_ERROR(db.Exec(step.sql));
    return db.Exec("PRAGMA user_version = " + std::to_string(LatestSchemaVersion()));
  }();
  if (!applied) {
    db.Rollback();
    return applied;
  }
  if (auto committed = db.Commit(); !committed) {
    db.Rollback();
    return committed;
  }
  return Ok();
}

}  // namespace metastack::store::sqlite
