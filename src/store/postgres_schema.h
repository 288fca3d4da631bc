#pragma once
// The PostgreSQL store's schema and its migrations. Internal to store/.
//
// Versions are ordered steps in code (postgres_schema.cc; 1 = the initial schema), recorded in
// the one-row table schema_version. Migrate() applies the missing steps in one transaction
// under pg_advisory_xact_lock, so processes starting at once neither race nor see half a schema.

#include "base/error.h"
#include "store/postgres_conn.h"

namespace metastack::store::pg {

// Brings the database to kPostgresSchemaVersion. kInvalidArgument when the database is newer:
// "postgresql: schema version N is newer than this metastack supports (M)".
Status Migrate(Session& session);

// The look-ups on the metadata path (postgres_store.cc), named so that a test can check that
// an index serves each one. Parameters: network id or router id or uuid, then the IP.
extern const char kGetInstanceSql[];
extern const char kRouterExistsSql[];
extern const char kFindPortOnNetworkSql[];
extern const char kFindPortOnRouterSql[];
extern const char kFindPortByMacOnNetworkSql[];
extern const char kFindPortByMacOnRouterSql[];

}  // namespace metastack::store::pg
