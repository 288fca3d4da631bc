#include "store/sqlite_rows.h"

#include "store/common.h"
#include "store/sqlite_schema.h"

namespace metastack::store::sqlite {

using internal::Conflict;

std::string DocumentText(const core::Instance& instance) {
  return core::DumpPython(core::InstanceToJson(instance));
}

Result<InstanceRecord> RecordFromRow(const Connection& db, std::string_view uuid, int64_t revision,
                                     const std::string& document) {
  auto parsed = core::ParseInstance(document);
  if (!parsed)
    return std::unexpected(MakeError(
        ErrorCode::kInternal, db.label() + ": stored document of instance " + std::string(uuid) +
                                  " is invalid: " + parsed.error().ToString()));
  return InstanceRecord{std::move(*parsed), revision};
}

PortBinding BindingFromRow(const Statement& row) {
  return PortBinding{row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4), row.Text(5)};
}

Network NetworkFromRow(const Statement& row) {
  Network n{row.Text(0), row.Text(1), row.Text(2), row.OptionalText(3), row.Int(4), row.Text(5)};
  if (auto policy = row.OptionalText(6)) n.http_tokens = core::ParseHttpTokens(*policy);
  return n;
}

Router RouterFromRow(const Statement& row) {
  return Router{row.Text(0), row.Text(1), row.Text(2), row.Int(3), row.Text(4)};
}

Result<std::optional<InstanceRecord>> LoadInstance(Connection& db, std::string_view uuid) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Bound(db, kGetInstanceSql, uuid));
  METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  METASTACK_ASSIGN_OR_RETURN(InstanceRecord rec,
                             RecordFromRow(db, uuid, stmt.Int(0), stmt.Text(1)));
  return rec;
}

Result<std::optional<int64_t>> InstanceRevision(Connection& db, std::string_view uuid) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt,
                             Bound(db, "SELECT revision FROM instances WHERE uuid = ?1", uuid));
  METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  return stmt.Int(0);
}

Result<std::optional<Network>> LoadNetwork(Connection& db, std::string_view id) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt,
                             Bound(db, std::string(kNetworkColumns) + " WHERE id = ?1", id));
  METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::nullopt;
  return NetworkFromRow(stmt);
}

Result<bool> RouterExists(Connection& db, std::string_view id) {
  return Exists(db, "SELECT 1 FROM routers WHERE id = ?1", id);
}

// Takes the next value of the store-wide revision counter (inside the write transaction).
Result<int64_t> ReadRevision(Connection& db) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT revision FROM store_revision WHERE id = 1"));
  METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row)
    return std::unexpected(
        MakeError(ErrorCode::kInternal, db.label() + ": the revision counter row is missing"));
  return stmt.Int(0);
}

Result<int64_t> NextRevision(Connection& db) {
  METASTACK_ASSIGN_OR_RETURN(
      Statement stmt, db.Prepare("UPDATE store_revision SET revision = revision + 1 WHERE id = 1 "
                                 "RETURNING revision"));
  METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row)
    return std::unexpected(
        MakeError(ErrorCode::kInternal, db.label() + ": the revision counter row is missing"));
  return stmt.Int(0);
}

// The same checks as the memory store's CheckWrite, in the same order, so that both report the
// same error for the same document: networks and routers first, then IPs held by others.
Status CheckWrite(Connection& db, const core::Instance& instance) {
  std::optional<Error> lookup_error;
  Status ports = internal::CheckPortsAgainstNetworks(
      instance, [&](const std::string& id) -> std::optional<Network> {
        if (lookup_error) return std::nullopt;
        auto network = LoadNetwork(db, id);
        if (!network) {
          lookup_error = network.error();
          return std::nullopt;
        }
        return *network;
      });
  if (lookup_error) return std::unexpected(*lookup_error);
  METASTACK_RETURN_IF_ERROR(ports);
  for (const auto& mine : internal::Bindings(instance)) {
    METASTACK_ASSIGN_OR_RETURN(
        Statement stmt,
        Bound(db, "SELECT instance_uuid FROM ports WHERE network_id = ?1 AND ip_address = ?2",
              mine.network_id, mine.ip_address));
    METASTACK_ASSIGN_OR_RETURN(bool taken, stmt.Step());
    if (taken && stmt.Text(0) != instance.uuid)
      return Conflict("IP " + mine.ip_address + " on network " + mine.network_id +
                      " belongs to instance " + stmt.Text(0));
  }
  return Ok();
}

// The rows an instance's document implies in instance_ports and ports.
Status InsertIndex(Connection& db, const core::Instance& instance) {
  for (size_t i = 0; i < instance.ports.size(); ++i) {
    const auto& port = instance.ports[i];
    METASTACK_ASSIGN_OR_RETURN(
        Statement stmt,
        Bound(db,
              "INSERT INTO instance_ports (instance_uuid, position, port_id, network_id, "
              "router_id) VALUES (?1, ?2, ?3, ?4, ?5)",
              instance.uuid, static_cast<int64_t>(i), port.id, port.network_id));
    stmt.BindOptional(5, port.router_id);
    METASTACK_RETURN_IF_ERROR(stmt.Run());
  }
  for (const auto& b : internal::Bindings(instance))
    METASTACK_RETURN_IF_ERROR(Run(db,
                                  "INSERT INTO ports (network_id, ip_address, instance_uuid, "
                                  "port_id, mac, project_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                  b.network_id, b.ip_address, b.instance_id, b.port_id, b.mac,
                                  b.project_id));
  return Ok();
}

Status DeleteIndex(Connection& db, std::string_view uuid) {
  METASTACK_RETURN_IF_ERROR(Run(db, "DELETE FROM ports WHERE instance_uuid = ?1", uuid));
  return Run(db, "DELETE FROM instance_ports WHERE instance_uuid = ?1", uuid);
}

Result<InstanceRecord> InsertInstance(Connection& db, const core::Instance& instance,
                                      std::vector<Change>& changes) {
  METASTACK_ASSIGN_OR_RETURN(bool exists,
                             Exists(db, "SELECT 1 FROM instances WHERE uuid = ?1", instance.uuid));
  if (exists) return Conflict("instance " + instance.uuid + " exists");
  METASTACK_RETURN_IF_ERROR(CheckWrite(db, instance));
  METASTACK_ASSIGN_OR_RETURN(int64_t revision, NextRevision(db));
  METASTACK_RETURN_IF_ERROR(Run(db,
                                "INSERT INTO instances (uuid, project_id, revision, document) "
                                "VALUES (?1, ?2, ?3, ?4)",
                                instance.uuid, instance.project_id, revision,
                                DocumentText(instance)));
  METASTACK_RETURN_IF_ERROR(InsertIndex(db, instance));
  changes.push_back({revision, Change::Kind::kInstance, instance.uuid, false});
  return InstanceRecord{instance, revision};
}

}  // namespace metastack::store::sqlite
