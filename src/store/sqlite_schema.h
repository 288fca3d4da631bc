#pragma once
// The SQLite store's schema: versioned migrations (PRAGMA user_version holds the version) and
// the SQL of the indexed lookups, named so that a test can check their query plans.
// Internal to store/.

#include "store/sqlite_db.h"

namespace metastack::store::sqlite {

// The schema version this binary writes: the number of the last migration.
int LatestSchemaVersion();

// The database's schema version; kInvalidArgument
// ("sqlite:PATH: schema version N is newer than this metastack supports (M)") when it is newer
// than LatestSchemaVersion(), so that an old binary never writes to a schema it does not know.
Result<int> CheckSchemaVersion(Connection& db);

// Brings the schema to LatestSchemaVersion() in one BEGIN IMMEDIATE transaction: concurrent
// openers serialise on the write lock and the later one finds nothing to do. Applies nothing
// when the database is newer (the error above).
Status Migrate(Connection& db);

// The metadata agent's lookups: each is a search of an index, never a scan.
// ?1 network_id, ?2 canonical IP.
inline constexpr char kFindPortOnNetworkSql[] =
    "SELECT port_id, mac, network_id, ip_address, instance_uuid, project_id FROM ports "
    "WHERE network_id = ?1 AND ip_address = ?2";
// ?1 router_id, ?2 canonical IP: the router's networks (networks_router index), then one
// primary-key probe of the port index per network.
inline constexpr char kFindPortOnRouterSql[] =
    "SELECT p.port_id, p.mac, p.network_id, p.ip_address, p.instance_uuid, p.project_id "
    "FROM networks n JOIN ports p ON p.network_id = n.id AND p.ip_address = ?2 "
    "WHERE n.router_id = ?1 ORDER BY n.id";
// The same by MAC (?2 lowercase), for link-local guests: the ports (network_id, mac) index.
inline constexpr char kFindPortByMacOnNetworkSql[] =
    "SELECT port_id, mac, network_id, ip_address, instance_uuid, project_id FROM ports "
    "WHERE network_id = ?1 AND mac = ?2";
inline constexpr char kFindPortByMacOnRouterSql[] =
    "SELECT p.port_id, p.mac, p.network_id, p.ip_address, p.instance_uuid, p.project_id "
    "FROM networks n JOIN ports p ON p.network_id = n.id AND p.mac = ?2 "
    "WHERE n.router_id = ?1 ORDER BY n.id";
// ?1 uuid.
inline constexpr char kGetInstanceSql[] =
    "SELECT revision, document FROM instances WHERE uuid = ?1";

}  // namespace metastack::store::sqlite
