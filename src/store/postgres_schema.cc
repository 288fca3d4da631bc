#include "store/postgres_schema.h"

#include <vector>

#include "store/postgres_store.h"

namespace metastack::store::pg {
namespace {

// Ids and IPs use COLLATE "C": pages and ListPorts are ordered bytewise, as in the memory
// store, whatever the database's locale, and the primary keys serve those orders.
// The revision is one counter row rather than a SEQUENCE: a writer takes it last and holds it
// to commit, so revisions are handed out in commit order (a cache that has seen revision N has
// seen every change up to N) and CurrentRevision() reads a committed value.
const char* const kSchemaV1[] = {
    R"(CREATE TABLE store_revision (
         singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
         value BIGINT NOT NULL))",
    "INSERT INTO store_revision (value) VALUES (0)",
    R"(CREATE TABLE routers (
         id TEXT COLLATE "C" PRIMARY KEY,
         name TEXT NOT NULL,
         project_id TEXT COLLATE "C" NOT NULL,
         revision BIGINT NOT NULL))",
    R"(CREATE TABLE networks (
         id TEXT COLLATE "C" PRIMARY KEY,
         name TEXT NOT NULL,
         project_id TEXT COLLATE "C" NOT NULL,
         router_id TEXT COLLATE "C" REFERENCES routers (id),
         revision BIGINT NOT NULL))",
    "CREATE INDEX networks_router_id ON networks (router_id)",
    R"(CREATE TABLE instances (
         uuid TEXT COLLATE "C" PRIMARY KEY,
         project_id TEXT COLLATE "C" NOT NULL,
         revision BIGINT NOT NULL,
         document TEXT NOT NULL))",
    "CREATE INDEX instances_project_id ON instances (project_id, uuid)",
    // Every port of every instance, fixed IPs or not: what DeleteNetwork and detaching a
    // router check. `ordinal` is the port's position in the document.
    R"(CREATE TABLE instance_ports (
         instance_uuid TEXT COLLATE "C" NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
         ordinal INTEGER NOT NULL,
         port_id TEXT NOT NULL,
         network_id TEXT COLLATE "C" NOT NULL REFERENCES networks (id),
         router_id TEXT,
         PRIMARY KEY (instance_uuid, ordinal)))",
    "CREATE INDEX instance_ports_network ON instance_ports (network_id, instance_uuid, ordinal)",
    // The port index: one row per fixed IP, the metadata agent's lookups.
    R"(CREATE TABLE port_index (
         network_id TEXT COLLATE "C" NOT NULL REFERENCES networks (id),
         ip_address TEXT COLLATE "C" NOT NULL,
         instance_uuid TEXT COLLATE "C" NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
         port_id TEXT NOT NULL,
         mac TEXT NOT NULL,
         project_id TEXT NOT NULL,
         UNIQUE (network_id, ip_address)))",
    "CREATE INDEX port_index_ip ON port_index (ip_address)",
    "CREATE INDEX port_index_instance ON port_index (instance_uuid)",
};

// The host whose daemon serves the namespace of a router or network; '' = unassigned.
const char* const kSchemaV2[] = {
    "ALTER TABLE routers ADD COLUMN host TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE networks ADD COLUMN host TEXT NOT NULL DEFAULT ''",
};

// Link-local guests are found by the MAC their address names: MACs compare lowercase, and
// (network_id, mac) is searched by index.
const char* const kSchemaV3[] = {
    "UPDATE port_index SET mac = lower(mac)",
    "CREATE INDEX IF NOT EXISTS port_index_network_mac ON port_index (network_id, mac)",
};

// A network's IMDSv2 session policy: NULL (unset), 'optional' or 'required'.
const char* const kSchemaV4[] = {
    "ALTER TABLE networks ADD COLUMN http_tokens TEXT",
};

struct Step {
  int version;
  std::vector<const char*> statements;
};

const std::vector<Step>& Steps() {
  static const std::vector<Step> steps = {
      {1, {std::begin(kSchemaV1), std::end(kSchemaV1)}},
      {2, {std::begin(kSchemaV2), std::end(kSchemaV2)}},
      {3, {std::begin(kSchemaV3), std::end(kSchemaV3)}},
      {4, {std::begin(kSchemaV4), std::end(kSchemaV4)}},
  };
  return steps;
}

// An arbitrary constant naming "metastack schema" among the database's advisory locks.
constexpr char kMigrationLockKey[] = "7310599616183656961";

Status MigrateInTransaction(Session& s) {
  METASTACK_RETURN_IF_ERROR(
      s.Exec("SELECT pg_advisory_xact_lock($1::bigint)", {kMigrationLockKey}));
  METASTACK_RETURN_IF_ERROR(
      s.Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  METASTACK_ASSIGN_OR_RETURN(Rows rows, s.Exec("SELECT max(version) FROM schema_version"));
  int current = rows.IsNull(0, 0) ? 0 : static_cast<int>(rows.Int(0, 0));
  if (current > kPostgresSchemaVersion)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "postgresql: schema version " + std::to_string(current) +
                                         " is newer than this metastack supports (" +
                                         std::to_string(kPostgresSchemaVersion) + ")"));
  for (const Step& step : Steps()) {
    if (step.version <= current) continue;
    for (const char* sql : step.statements) METASTACK_RETURN_IF_ERROR(s.Exec(sql));
  }
  if (current == kPostgresSchemaVersion) return Ok();
  METASTACK_RETURN_IF_ERROR(s.Exec("DELETE FROM schema_version"));
  METASTACK_RETURN_IF_ERROR(s.Exec("INSERT INTO schema_version (version) VALUES ($1::integer)",
                                   {std::to_string(kPostgresSchemaVersion)}));
  return Ok();
}

}  // namespace

Status Migrate(Session& session) {
  METASTACK_RETURN_IF_ERROR(session.Exec("BEGIN"));
  if (auto migrated = MigrateInTransaction(session); !migrated) {
    (void)session.Exec("ROLLBACK");
    return migrated;
  }
  METASTACK_RETURN_IF_ERROR(session.Exec("COMMIT"));
  return Ok();
}

}  // namespace metastack::store::pg
