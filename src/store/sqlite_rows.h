#pragma once
// The SQLite store's row-level reads and writes, each usable on the writer connection inside a
// transaction or on a reader: records from rows, the revision counter, the checks a write must
// pass (the memory store's, in the same order, so both report the same error), and the port
// index kept in step with the document. Internal to store/.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite_db.h"
#include "store/store.h"

namespace metastack::store::sqlite {

// The document as stored: its canonical JSON, which core::ParseInstance accepts back unchanged.
std::string DocumentText(const core::Instance& instance);
// kInternal when the stored text no longer parses.
Result<InstanceRecord> RecordFromRow(const Connection& db, std::string_view uuid, int64_t revision,
                                     const std::string& document);

// Row columns: port_id, mac, network_id, ip_address, instance_uuid, project_id.
PortBinding BindingFromRow(const Statement& row);
inline constexpr char kNetworkColumns[] =
    "SELECT id, name, project_id, router_id, revision, host, http_tokens FROM networks";
Network NetworkFromRow(const Statement& row);
inline constexpr char kRouterColumns[] = "SELECT id, name, project_id, revision, host FROM routers";
Router RouterFromRow(const Statement& row);

// nullopt when absent.
Result<std::optional<InstanceRecord>> LoadInstance(Connection& db, std::string_view uuid);
Result<std::optional<int64_t>> InstanceRevision(Connection& db, std::string_view uuid);
Result<std::optional<Network>> LoadNetwork(Connection& db, std::string_view id);
Result<bool> RouterExists(Connection& db, std::string_view id);

// The store-wide revision counter: the newest committed revision as this connection sees it.
Result<int64_t> ReadRevision(Connection& db);
// Takes the next value of the store-wide revision counter (inside the write transaction).
Result<int64_t> NextRevision(Connection& db);

// The document's ports against the networks they name, then its IPs against other instances'.
Status CheckWrite(Connection& db, const core::Instance& instance);
// Adds / removes the rows of instance_ports and ports that an instance's document implies.
Status InsertIndex(Connection& db, const core::Instance& instance);
Status DeleteIndex(Connection& db, std::string_view uuid);

// CreateInstance inside an open write transaction: checks, inserts the document and its index
// rows, and appends the change to announce after the commit.
Result<InstanceRecord> InsertInstance(Connection& db, const core::Instance& instance,
                                      std::vector<Change>& changes);

}  // namespace metastack::store::sqlite
