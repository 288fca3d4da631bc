#include "store/sqlite_store.h"

#include <algorithm>
#include <mutex>
#include <type_traits>

#include "store/common.h"
#include "store/sqlite_db.h"
#include "store/sqlite_feed.h"
#include "store/sqlite_rows.h"
#include "store/sqlite_schema.h"

namespace metastack::store {
namespace {

using internal::Conflict;
using internal::NotFound;
using sqlite::BindingFromRow;
using sqlite::Bound;
using sqlite::CheckWrite;
using sqlite::Connection;
using sqlite::DeleteIndex;
using sqlite::DocumentText;
using sqlite::Exists;
using sqlite::InsertIndex;
using sqlite::InsertInstance;
using sqlite::InstanceRevision;
using sqlite::LoadInstance;
using sqlite::LoadNetwork;
using sqlite::NetworkFromRow;
using sqlite::NextRevision;
using sqlite::RecordFromRow;
using sqlite::RouterExists;
using sqlite::RouterFromRow;
using sqlite::Run;
using sqlite::Statement;

// A network's session policy as its column holds it (NULL when unset).
std::optional<std::string> PolicyText(std::optional<core::HttpTokens> policy) {
  if (!policy) return std::nullopt;
  return std::string(core::HttpTokensName(*policy));
}

// Every binding a port lookup's `sql` (?1 the network or router, ?2 the IP or MAC) yields.
Result<std::vector<PortBinding>> Matching(Connection& db, const char* sql, std::string_view scope,
                                          std::string_view value) {
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, Bound(db, sql, scope, value));
  std::vector<PortBinding> found;
  while (true) {
    METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return found;
    found.push_back(BindingFromRow(stmt));
  }
}

// One page of `select` (whose first column is `key`) in key order, as the memory store pages.
template <typename T, typename FromRow, typename KeyOf>
Result<Page<T>> ListPage(Connection& db, std::string_view select, std::string_view key,
                         const ListOptions& options, FromRow from_row, KeyOf key_of) {
  size_t limit = internal::PageLimit(options);
  std::string sql = std::string(select) + " WHERE " + std::string(key) + " > ?1";
  if (!options.project_id.empty()) sql += " AND project_id = ?2";
  sql += " ORDER BY " + std::string(key) + " LIMIT ?3";
  METASTACK_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
  stmt.Bind(1, options.after).Bind(3, static_cast<int64_t>(limit + 1));
  if (!options.project_id.empty()) stmt.Bind(2, options.project_id);
  Page<T> page;
  while (true) {
    METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (page.items.size() == limit) {  // one more exists: this page is not the last
      page.next = key_of(page.items.back());
      break;
    }
    METASTACK_ASSIGN_OR_RETURN(T item, from_row(stmt));
    page.items.push_back(std::move(item));
  }
  return page;
}

class SqliteStore final : public Store {
 public:
  // `revision`: the store's revision at open, where the feed starts.
  SqliteStore(const std::string& path, const std::string& label, const SqliteOptions& options,
              std::unique_ptr<Connection> writer, int64_t revision)
      : changes_kept_(std::max<int64_t>(options.changes_kept, 1)),
        writer_(std::move(writer)),
        readers_(path, label, {false, options.busy_timeout, options.reader_mmap_bytes},
                 options.max_idle_readers),
        cursor_(hub_, revision),
        watcher_(path, label, {options.feed_poll_interval, changes_kept_}, cursor_) {}

  // --- instances -----------------------------------------------------------------------------

  Result<InstanceRecord> CreateInstance(const core::Instance& instance) override {
    return Write([&](Connection& db, std::vector<Change>& changes) {
      return InsertInstance(db, instance, changes);
    });
  }

  Status CreateInstances(const std::vector<core::Instance>& instances) {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Status {
      for (const auto& instance : instances)
        METASTACK_RETURN_IF_ERROR(InsertInstance(db, instance, changes));
      return Ok();
    });
  }

  Result<InstanceRecord> GetInstance(std::string_view uuid) override {
    return Read([&](Connection& db) -> Result<InstanceRecord> {
      METASTACK_ASSIGN_OR_RETURN(auto rec, LoadInstance(db, uuid));
      if (!rec) return NotFound("instance", uuid);
      return std::move(*rec);
    });
  }

  Result<Page<InstanceRecord>> ListInstances(const ListOptions& options) override {
    return Read([&](Connection& db) {
      return ListPage<InstanceRecord>(
          db, "SELECT uuid, revision, document FROM instances", "uuid", options,
          [&](const Statement& row) {
            return RecordFromRow(db, row.Text(0), row.Int(1), row.Text(2));
          },
          [](const InstanceRecord& r) { return r.instance.uuid; });
    });
  }

  Result<InstanceRecord> ReplaceInstance(const core::Instance& instance,
                                         std::optional<int64_t> expected_revision) override {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<InstanceRecord> {
      METASTACK_ASSIGN_OR_RETURN(auto current, InstanceRevision(db, instance.uuid));
      if (!current) return NotFound("instance", instance.uuid);
      if (expected_revision && *expected_revision != *current)
        return std::unexpected(StaleRevision(instance.uuid, *current, *expected_revision));
      METASTACK_RETURN_IF_ERROR(CheckWrite(db, instance));
      METASTACK_ASSIGN_OR_RETURN(int64_t revision, NextRevision(db));
      METASTACK_RETURN_IF_ERROR(Run(db,
                                    "UPDATE instances SET project_id = ?2, revision = ?3, "
                                    "document = ?4 WHERE uuid = ?1",
                                    instance.uuid, instance.project_id, revision,
                                    DocumentText(instance)));
      METASTACK_RETURN_IF_ERROR(DeleteIndex(db, instance.uuid));
      METASTACK_RETURN_IF_ERROR(InsertIndex(db, instance));
      changes.push_back({revision, Change::Kind::kInstance, instance.uuid, false});
      return InstanceRecord{instance, revision};
    });
  }

  Status DeleteInstance(std::string_view uuid) override {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Status {
      METASTACK_ASSIGN_OR_RETURN(auto current, InstanceRevision(db, uuid));
      if (!current) return NotFound("instance", uuid);
      METASTACK_RETURN_IF_ERROR(DeleteIndex(db, uuid));
      METASTACK_RETURN_IF_ERROR(Run(db, "DELETE FROM instances WHERE uuid = ?1", uuid));
      METASTACK_ASSIGN_OR_RETURN(int64_t revision, NextRevision(db));
      changes.push_back({revision, Change::Kind::kInstance, std::string(uuid), true});
      return Ok();
    });
  }

  Result<InstanceRecord> SetPassword(std::string_view uuid, std::string_view password) override {
    return EditInstance(
        uuid, [&](core::Instance& inst) { return internal::SetGuestPassword(inst, password); });
  }

  Result<InstanceRecord> ResetPassword(std::string_view uuid) override {
    return EditInstance(uuid, [](core::Instance& inst) -> Status {
      inst.password.reset();
      return Ok();
    });
  }

  // --- networks and routers ------------------------------------------------------------------

  Result<Network> CreateNetwork(const Network& network) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckNetworkFields(network));
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(bool exists,
                                 Exists(db, "SELECT 1 FROM networks WHERE id = ?1", network.id));
      if (exists) return Conflict("network " + network.id + " exists");
      if (network.router_id) {
        METASTACK_ASSIGN_OR_RETURN(bool router, RouterExists(db, *network.router_id));
        if (!router)
          return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                           "unknown router " + *network.router_id, "router_id"));
      }
      Network n = network;
      METASTACK_ASSIGN_OR_RETURN(n.revision, NextRevision(db));
      METASTACK_ASSIGN_OR_RETURN(
          Statement stmt, Bound(db,
                                "INSERT INTO networks (id, name, project_id, revision, host, "
                                "router_id, http_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                n.id, n.name, n.project_id, n.revision, n.host));
      stmt.BindOptional(6, n.router_id);
      stmt.BindOptional(7, PolicyText(n.http_tokens));
      METASTACK_RETURN_IF_ERROR(stmt.Run());
      changes.push_back({n.revision, Change::Kind::kNetwork, n.id, false});
      return n;
    });
  }

  Result<Network> GetNetwork(std::string_view id) override {
    return Read([&](Connection& db) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(auto network, LoadNetwork(db, id));
      if (!network) return NotFound("network", id);
      return std::move(*network);
    });
  }

  Result<Page<Network>> ListNetworks(const ListOptions& options) override {
    return Read([&](Connection& db) {
      return ListPage<Network>(
          db, sqlite::kNetworkColumns, "id", options,
          [](const Statement& row) -> Result<Network> { return NetworkFromRow(row); },
          [](const Network& n) { return n.id; });
    });
  }

  Status DeleteNetwork(std::string_view id) override {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Status {
      METASTACK_ASSIGN_OR_RETURN(bool exists,
                                 Exists(db, "SELECT 1 FROM networks WHERE id = ?1", id));
      if (!exists) return NotFound("network", id);
      // The first port in (instance uuid, port order), as the memory store finds it.
      METASTACK_ASSIGN_OR_RETURN(
          Statement port,
          Bound(db,
                "SELECT instance_uuid, port_id FROM instance_ports WHERE network_id = ?1 "
                "ORDER BY instance_uuid, position LIMIT 1",
                id));
      METASTACK_ASSIGN_OR_RETURN(bool in_use, port.Step());
      if (in_use)
        return Conflict("network " + std::string(id) + " has port " + port.Text(1) +
                        " of instance " + port.Text(0));
      METASTACK_RETURN_IF_ERROR(Run(db, "DELETE FROM networks WHERE id = ?1", id));
      METASTACK_ASSIGN_OR_RETURN(int64_t revision, NextRevision(db));
      changes.push_back({revision, Change::Kind::kNetwork, std::string(id), true});
      return Ok();
    });
  }

  Result<Router> CreateRouter(const Router& router) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckRouterFields(router));
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<Router> {
      METASTACK_ASSIGN_OR_RETURN(bool exists, RouterExists(db, router.id));
      if (exists) return Conflict("router " + router.id + " exists");
      Router r = router;
      METASTACK_ASSIGN_OR_RETURN(r.revision, NextRevision(db));
      METASTACK_RETURN_IF_ERROR(Run(db,
                                    "INSERT INTO routers (id, name, project_id, revision, host) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5)",
                                    r.id, r.name, r.project_id, r.revision, r.host));
      changes.push_back({r.revision, Change::Kind::kRouter, r.id, false});
      return r;
    });
  }

  Result<Router> GetRouter(std::string_view id) override {
    return Read([&](Connection& db) -> Result<Router> {
      METASTACK_ASSIGN_OR_RETURN(
          Statement stmt, Bound(db, std::string(sqlite::kRouterColumns) + " WHERE id = ?1", id));
      METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFound("router", id);
      return RouterFromRow(stmt);
    });
  }

  Result<Page<Router>> ListRouters(const ListOptions& options) override {
    return Read([&](Connection& db) {
      return ListPage<Router>(
          db, sqlite::kRouterColumns, "id", options,
          [](const Statement& row) -> Result<Router> { return RouterFromRow(row); },
          [](const Router& r) { return r.id; });
    });
  }

  Status DeleteRouter(std::string_view id) override {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Status {
      METASTACK_ASSIGN_OR_RETURN(bool exists, RouterExists(db, id));
      if (!exists) return NotFound("router", id);
      METASTACK_ASSIGN_OR_RETURN(
          Statement attached,
          Bound(db, "SELECT id FROM networks WHERE router_id = ?1 ORDER BY id LIMIT 1", id));
      METASTACK_ASSIGN_OR_RETURN(bool in_use, attached.Step());
      if (in_use)
        return Conflict("router " + std::string(id) + " has network " + attached.Text(0) +
                        " attached");
      METASTACK_RETURN_IF_ERROR(Run(db, "DELETE FROM routers WHERE id = ?1", id));
      METASTACK_ASSIGN_OR_RETURN(int64_t revision, NextRevision(db));
      changes.push_back({revision, Change::Kind::kRouter, std::string(id), true});
      return Ok();
    });
  }

  Result<Network> SetNetworkRouter(std::string_view network_id,
                                   std::string_view router_id) override {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(auto network, LoadNetwork(db, network_id));
      if (!network) return NotFound("network", network_id);
      if (!router_id.empty()) {
        METASTACK_ASSIGN_OR_RETURN(bool router, RouterExists(db, router_id));
        if (!router) return NotFound("router", router_id);
        network->router_id = std::string(router_id);
      } else {
        // As the memory store: only detaching is refused while a port names a router.
        METASTACK_ASSIGN_OR_RETURN(
            Statement port, Bound(db,
                                  "SELECT instance_uuid, port_id, router_id FROM instance_ports "
                                  "WHERE network_id = ?1 AND router_id IS NOT NULL "
                                  "ORDER BY instance_uuid, position LIMIT 1",
                                  network_id));
        METASTACK_ASSIGN_OR_RETURN(bool named, port.Step());
        if (named)
          return Conflict("port " + port.Text(1) + " of instance " + port.Text(0) +
                          " names router " + port.Text(2));
        network->router_id.reset();
      }
      METASTACK_ASSIGN_OR_RETURN(network->revision, NextRevision(db));
      METASTACK_ASSIGN_OR_RETURN(
          Statement stmt,
          Bound(db, "UPDATE networks SET revision = ?2, router_id = ?3 WHERE id = ?1", network->id,
                network->revision));
      stmt.BindOptional(3, network->router_id);
      METASTACK_RETURN_IF_ERROR(stmt.Run());
      changes.push_back({network->revision, Change::Kind::kNetwork, network->id, false});
      return std::move(*network);
    });
  }

  Result<Router> SetRouterHost(std::string_view router_id, std::string_view host) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckHost(host));
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<Router> {
      METASTACK_ASSIGN_OR_RETURN(
          Statement stmt,
          Bound(db, std::string(sqlite::kRouterColumns) + " WHERE id = ?1", router_id));
      METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFound("router", router_id);
      Router r = RouterFromRow(stmt);
      r.host = std::string(host);
      METASTACK_ASSIGN_OR_RETURN(r.revision, NextRevision(db));
      METASTACK_RETURN_IF_ERROR(Run(db, "UPDATE routers SET revision = ?2, host = ?3 WHERE id = ?1",
                                    r.id, r.revision, r.host));
      changes.push_back({r.revision, Change::Kind::kRouter, r.id, false});
      return r;
    });
  }

  Result<Network> SetNetworkHost(std::string_view network_id, std::string_view host) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckHost(host));
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(auto network, LoadNetwork(db, network_id));
      if (!network) return NotFound("network", network_id);
      network->host = std::string(host);
      METASTACK_ASSIGN_OR_RETURN(network->revision, NextRevision(db));
      METASTACK_RETURN_IF_ERROR(Run(db,
                                    "UPDATE networks SET revision = ?2, host = ?3 WHERE id = ?1",
                                    network->id, network->revision, network->host));
      changes.push_back({network->revision, Change::Kind::kNetwork, network->id, false});
      return std::move(*network);
    });
  }

  Result<Network> SetNetworkHttpTokens(std::string_view network_id,
                                       std::optional<core::HttpTokens> policy) override {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(auto network, LoadNetwork(db, network_id));
      if (!network) return NotFound("network", network_id);
      network->http_tokens = policy;
      METASTACK_ASSIGN_OR_RETURN(network->revision, NextRevision(db));
      METASTACK_ASSIGN_OR_RETURN(
          Statement stmt,
          Bound(db, "UPDATE networks SET revision = ?2, http_tokens = ?3 WHERE id = ?1",
                network->id, network->revision));
      stmt.BindOptional(3, PolicyText(policy));
      METASTACK_RETURN_IF_ERROR(stmt.Run());
      changes.push_back({network->revision, Change::Kind::kNetwork, network->id, false});
      return std::move(*network);
    });
  }

  // --- the port index ------------------------------------------------------------------------

  Result<PortBinding> FindPortOnNetwork(std::string_view network_id, std::string_view ip) override {
    METASTACK_ASSIGN_OR_RETURN(auto query, internal::PortQueryFor(ip));
    return Read([&](Connection& db) -> Result<PortBinding> {
      METASTACK_ASSIGN_OR_RETURN(
          auto found,
          Matching(
              db, query.by_mac ? sqlite::kFindPortByMacOnNetworkSql : sqlite::kFindPortOnNetworkSql,
              network_id, query.value));
      return internal::OnePort(std::move(found), query, "on network", network_id);
    });
  }

  Result<PortBinding> FindPortOnRouter(std::string_view router_id, std::string_view ip) override {
    METASTACK_ASSIGN_OR_RETURN(auto query, internal::PortQueryFor(ip));
    return Read([&](Connection& db) -> Result<PortBinding> {
      METASTACK_ASSIGN_OR_RETURN(
          auto found,
          Matching(db,
                   query.by_mac ? sqlite::kFindPortByMacOnRouterSql : sqlite::kFindPortOnRouterSql,
                   router_id, query.value));
      // No match: tell an unknown router from an empty one. (A match implies the router exists:
      // networks.router_id is a foreign key.)
      if (found.empty()) {
        METASTACK_ASSIGN_OR_RETURN(bool router, RouterExists(db, router_id));
        if (!router) return NotFound("router", router_id);
      }
      return internal::OnePort(std::move(found), query, "behind router", router_id);
    });
  }

  Result<Page<PortBinding>> ListPorts(std::string_view network_id,
                                      const ListOptions& options) override {
    size_t limit = internal::PageLimit(options);
    auto [after_network, after_ip] = internal::SplitPortKey(options.after);
    return Read([&](Connection& db) -> Result<Page<PortBinding>> {
      // A keyset page: one range scan of the primary key from the marker on.
      std::string sql =
          "SELECT port_id, mac, network_id, ip_address, instance_uuid, project_id FROM ports "
          "WHERE (network_id, ip_address) > (?1, ?2)";
      if (!network_id.empty()) sql += " AND network_id = ?3";
      if (!options.project_id.empty()) sql += " AND project_id = ?4";
      sql += " ORDER BY network_id, ip_address LIMIT ?5";
      METASTACK_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
      stmt.Bind(1, after_network).Bind(2, after_ip).Bind(5, static_cast<int64_t>(limit + 1));
      if (!network_id.empty()) stmt.Bind(3, network_id);
      if (!options.project_id.empty()) stmt.Bind(4, options.project_id);
      Page<PortBinding> page;
      while (true) {
        METASTACK_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) return page;
        if (page.items.size() == limit) {  // one more exists: this page is not the last
          page.next = PortKey(page.items.back());
          return page;
        }
        page.items.push_back(BindingFromRow(stmt));
      }
    });
  }

  // --- change feed ---------------------------------------------------------------------------

  Result<int64_t> CurrentRevision() override {
    return Read([](Connection& db) { return sqlite::ReadRevision(db); });
  }

  std::unique_ptr<Subscription> Subscribe(std::function<void(const Change&)> callback) override {
    auto subscription = hub_.Subscribe(std::move(callback));
    watcher_.Start();
    return subscription;
  }

 private:
  // Runs `body(writer, changes)` in one BEGIN IMMEDIATE transaction, which also records
  // `changes` in the feed table and reads the feed past what this process has announced:
  // commits when all that succeeds, rolls back when any of it or the COMMIT fails. After the
  // commit it announces what it read: other processes' changes not announced yet, then its
  // own, in revision order (sqlite_feed.h), so a write that returned has been announced here.
  template <typename Body>
  auto Write(Body&& body) -> std::invoke_result_t<Body, Connection&, std::vector<Change>&> {
    std::lock_guard lock(write_mu_);
    METASTACK_RETURN_IF_ERROR(writer_->BeginImmediate());
    std::vector<Change> changes;
    sqlite::FeedBatch batch;
    auto result = body(*writer_, changes);
    if (result) {
      Status recorded = [&]() -> Status {
        METASTACK_RETURN_IF_ERROR(sqlite::RecordChanges(*writer_, changes, changes_kept_));
        METASTACK_ASSIGN_OR_RETURN(batch,
                                   sqlite::ReadFeed(*writer_, cursor_.announced(), changes_kept_));
        return writer_->Commit();
      }();
      if (!recorded) result = std::unexpected(std::move(recorded).error());
    }
    if (!result) {
      writer_->Rollback();
      return result;
    }
    cursor_.Publish(batch);
    return result;
  }

  // Runs `body(reader)` on a pooled read connection.
  template <typename Body>
  auto Read(Body&& body) -> std::invoke_result_t<Body, Connection&> {
    auto lease = readers_.Acquire();
    if (!lease) return std::unexpected(std::move(lease).error());
    return body(**lease);
  }

  // A read-modify-write of one document. Only the password changes through here, so the port
  // index is unaffected.
  Result<InstanceRecord> EditInstance(std::string_view uuid,
                                      const std::function<Status(core::Instance&)>& edit) {
    return Write([&](Connection& db, std::vector<Change>& changes) -> Result<InstanceRecord> {
      METASTACK_ASSIGN_OR_RETURN(auto rec, LoadInstance(db, uuid));
      if (!rec) return NotFound("instance", uuid);
      METASTACK_RETURN_IF_ERROR(edit(rec->instance));
      METASTACK_ASSIGN_OR_RETURN(rec->revision, NextRevision(db));
      METASTACK_RETURN_IF_ERROR(
          Run(db, "UPDATE instances SET revision = ?2, document = ?3 WHERE uuid = ?1", uuid,
              rec->revision, DocumentText(rec->instance)));
      changes.push_back({rec->revision, Change::Kind::kInstance, std::string(uuid), false});
      return std::move(*rec);
    });
  }

  const int64_t changes_kept_;
  std::mutex write_mu_;
  std::unique_ptr<Connection> writer_;  // guarded by write_mu_
  sqlite::ConnectionPool readers_;
  internal::ChangeHub hub_;
  sqlite::FeedCursor cursor_;  // publishes into hub_
  sqlite::Watcher watcher_;    // last: stops before what it uses goes
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                               const SqliteOptions& options) {
  if (path.empty())
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "sqlite: a database path is required (sqlite:PATH)"));
  std::string label = "sqlite:" + path;
  METASTACK_ASSIGN_OR_RETURN(auto writer,
                             Connection::Open(path, label, {true, options.busy_timeout}));
  // Refuse a newer schema before changing anything about the file (even its journal mode).
  METASTACK_RETURN_IF_ERROR(sqlite::CheckSchemaVersion(*writer));
  METASTACK_ASSIGN_OR_RETURN(std::string mode, writer->QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal")
    return std::unexpected(MakeError(
        ErrorCode::kInternal, label + ": cannot use WAL (the journal mode stayed '" + mode + "')"));
  // FULL: a commit fsyncs the WAL, so a write that returned survives kill -9 and power loss
  // (NORMAL would only survive the former).
  METASTACK_RETURN_IF_ERROR(writer->Exec("PRAGMA synchronous = FULL"));
  // A large transaction grows the WAL file; give the space back after each checkpoint.
  METASTACK_RETURN_IF_ERROR(writer->Exec("PRAGMA journal_size_limit = 67108864"));
  METASTACK_RETURN_IF_ERROR(sqlite::Migrate(*writer));
  // The feed starts here: the process has seen (and cached) nothing older.
  METASTACK_ASSIGN_OR_RETURN(int64_t revision, sqlite::ReadRevision(*writer));
  return std::make_unique<SqliteStore>(path, label, options, std::move(writer), revision);
}

Status BulkCreateInstancesForTesting(Store& store, const std::vector<core::Instance>& instances) {
  auto* sqlite = dynamic_cast<SqliteStore*>(&store);
  if (!sqlite)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "BulkCreateInstancesForTesting: not a SQLite store"));
  return sqlite->CreateInstances(instances);
}

}  // namespace metastack::store
