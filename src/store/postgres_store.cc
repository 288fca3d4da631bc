#include "store/postgres_store.h"

#include <algorithm>
#include <map>

#include "store/common.h"
#include "store/postgres_conn.h"
#include "store/postgres_listener.h"
#include "store/postgres_schema.h"

namespace metastack::store {

namespace pg {
const char kGetInstanceSql[] = "SELECT uuid, revision, document FROM instances WHERE uuid = $1";
const char kRouterExistsSql[] = "SELECT 1 FROM routers WHERE id = $1";
const char kFindPortOnNetworkSql[] =
    "SELECT port_id, mac, network_id, ip_address, instance_uuid, project_id FROM port_index "
    "WHERE network_id = $1 AND ip_address = $2";
const char kFindPortOnRouterSql[] =
    "SELECT p.port_id, p.mac, p.network_id, p.ip_address, p.instance_uuid, p.project_id "
    "FROM port_index p JOIN networks n ON n.id = p.network_id "
    "WHERE n.router_id = $1 AND p.ip_address = $2";
const char kFindPortByMacOnNetworkSql[] =
    "SELECT port_id, mac, network_id, ip_address, instance_uuid, project_id FROM port_index "
    "WHERE network_id = $1 AND mac = $2";
const char kFindPortByMacOnRouterSql[] =
    "SELECT p.port_id, p.mac, p.network_id, p.ip_address, p.instance_uuid, p.project_id "
    "FROM port_index p JOIN networks n ON n.id = p.network_id "
    "WHERE n.router_id = $1 AND p.mac = $2";
}  // namespace pg

namespace {

using internal::Conflict;
using internal::NotFound;
using pg::Rows;
using pg::Session;

// Takes the next revision, stamps it on the written row and queues the notification
// (delivered at commit). Always a write's last statement: the counter row then stays locked
// only from here to commit, and nothing after it can wait on another writer, so writers
// cannot deadlock on it.
Result<int64_t> Announce(Session& s, Change::Kind kind, std::string_view id, bool deleted) {
  // Built once from constant table names; values travel as parameters only.
  static const std::string kSql[] = {
      // Indexed by Change::Kind, then one for deletions (no row left to stamp).
      "instances SET revision = (SELECT value FROM r) WHERE uuid = $1",
      "networks SET revision = (SELECT value FROM r) WHERE id = $1",
      "routers SET revision = (SELECT value FROM r) WHERE id = $1",
      "",
  };
  static const auto kStatements = [] {
    std::vector<std::string> out;
    for (const std::string& stamp : kSql)
      out.push_back("WITH r AS (UPDATE store_revision SET value = value + 1 RETURNING value)" +
                    (stamp.empty() ? "" : ", s AS (UPDATE " + stamp + ")") +
                    " SELECT value, pg_notify('metastack_changes', "
                    "value || ' ' || $2 || ' ' || $1 || ' ' || $3) FROM r");
    return out;
  }();
  const std::string& sql = kStatements[deleted ? 3 : static_cast<int>(kind)];
  METASTACK_ASSIGN_OR_RETURN(
      Rows rows, s.Exec(sql.c_str(), {id, internal::KindName(kind), deleted ? "1" : "0"}));
  return rows.Int(0, 0);
}

Network NetworkAt(const Rows& rows, int row) {
  Network n{rows.String(row, 0),   rows.String(row, 1), rows.String(row, 2),
            rows.Optional(row, 3), rows.Int(row, 4),    rows.String(row, 5)};
  if (auto policy = rows.Optional(row, 6)) n.http_tokens = core::ParseHttpTokens(*policy);
  return n;
}
// A network's session policy as its column holds it (NULL when unset).
pg::Param PolicyParam(std::optional<core::HttpTokens> policy) {
  if (!policy) return std::nullopt;
  return core::HttpTokensName(*policy);
}
Router RouterAt(const Rows& rows, int row) {
  return Router{rows.String(row, 0), rows.String(row, 1), rows.String(row, 2), rows.Int(row, 3),
                rows.String(row, 4)};
}
PortBinding BindingAt(const Rows& rows, int row) {
  return PortBinding{rows.String(row, 0), rows.String(row, 1), rows.String(row, 2),
                     rows.String(row, 3), rows.String(row, 4), rows.String(row, 5)};
}
// Every binding a port lookup's `sql` ($1 the network or router, $2 the IP or MAC) yields.
Result<std::vector<PortBinding>> Matching(Session& s, const char* sql, std::string_view scope,
                                          std::string_view value) {
  METASTACK_ASSIGN_OR_RETURN(Rows rows, s.Exec(sql, {scope, value}));
  std::vector<PortBinding> found;
  for (int i = 0; i < rows.size(); ++i) found.push_back(BindingAt(rows, i));
  return found;
}
// Columns uuid, revision, document.
Result<InstanceRecord> RecordAt(const Rows& rows, int row) {
  auto instance = core::ParseInstance(rows.Get(row, 2));
  if (!instance)
    return std::unexpected(MakeError(
        ErrorCode::kInternal, "postgresql: stored document of instance " + rows.String(row, 0) +
                                  " does not parse: " + instance.error().ToString()));
  return InstanceRecord{std::move(*instance), rows.Int(row, 1)};
}

std::string Document(const core::Instance& instance) {
  return core::DumpPython(core::InstanceToJson(instance));
}

// Row sets travel as one JSON parameter (json_to_recordset), never spliced into SQL.
std::string BindingsJson(const std::vector<PortBinding>& bindings) {
  core::Json rows = core::Json::array();
  for (size_t i = 0; i < bindings.size(); ++i) {
    const PortBinding& b = bindings[i];
    rows.push_back({{"ord", i},
                    {"network_id", b.network_id},
                    {"ip_address", b.ip_address},
                    {"port_id", b.port_id},
                    {"mac", b.mac},
                    {"project_id", b.project_id}});
  }
  return core::DumpPython(rows);
}

std::string PortsJson(const core::Instance& instance) {
  core::Json rows = core::Json::array();
  for (size_t i = 0; i < instance.ports.size(); ++i) {
    const core::Port& p = instance.ports[i];
    rows.push_back({{"ordinal", i},
                    {"port_id", p.id},
                    {"network_id", p.network_id},
                    {"router_id", p.router_id ? core::Json(*p.router_id) : core::Json()}});
  }
  return core::DumpPython(rows);
}

std::string NetworkIdsJson(const core::Instance& instance) {
  core::Json ids = core::Json::array();
  for (const auto& port : instance.ports) ids.push_back(port.network_id);
  return core::DumpPython(ids);
}

template <typename T>
Page<T> MakePage(std::vector<T> items, size_t limit, std::string (*key)(const T&)) {
  Page<T> page;
  if (items.size() > limit) {
    items.resize(limit);
    page.next = key(items.back());
  }
  page.items = std::move(items);
  return page;
}

class PostgresStore final : public Store {
 public:
  PostgresStore(const pg::ConnParams& params, size_t pool_size)
      : pool_(params, pool_size), listener_(params, hub_) {}

  Status Migrate() {
    METASTACK_ASSIGN_OR_RETURN(auto lease, pool_.Acquire());
    return pg::Migrate(lease.session());
  }

  Result<InstanceRecord> CreateInstance(const core::Instance& instance) override {
    return pg::Transact(pool_, [&](Session& s) { return InsertInstance(s, instance); });
  }

  // Every instance in one transaction of four set-based statements (see the header's
  // PostgresBulkCreateInstancesForTesting): all or none.
  Status CreateInstances(const std::vector<core::Instance>& instances) {
    if (instances.empty()) return Ok();
    core::Json rows = core::Json::array(), ports = core::Json::array(),
               bindings = core::Json::array();
    for (size_t i = 0; i < instances.size(); ++i) {
      const core::Instance& instance = instances[i];
      rows.push_back({{"ord", i},
                      {"uuid", instance.uuid},
                      {"project_id", instance.project_id},
                      {"document", Document(instance)}});
      for (size_t j = 0; j < instance.ports.size(); ++j) {
        const core::Port& port = instance.ports[j];
        ports.push_back(
            {{"instance_uuid", instance.uuid},
             {"ordinal", j},
             {"port_id", port.id},
             {"network_id", port.network_id},
             {"router_id", port.router_id ? core::Json(*port.router_id) : core::Json()}});
      }
      for (const PortBinding& b : internal::Bindings(instance))
        bindings.push_back({{"instance_uuid", instance.uuid},
                            {"network_id", b.network_id},
                            {"ip_address", b.ip_address},
                            {"port_id", b.port_id},
                            {"mac", b.mac},
                            {"project_id", b.project_id}});
    }
    const std::string rows_json = core::DumpPython(rows), ports_json = core::DumpPython(ports),
                      bindings_json = core::DumpPython(bindings),
                      count = std::to_string(instances.size());
    return pg::Transact(pool_, [&](Session& s) -> Status {
      // Revisions last+1 .. last+n in the batch's order, as n creates in a row would take.
      METASTACK_RETURN_IF_ERROR(
          s.Exec("WITH r AS (UPDATE store_revision SET value = value + $2::bigint RETURNING value) "
                 "INSERT INTO instances (uuid, project_id, revision, document) "
                 "SELECT i.uuid, i.project_id, (SELECT value FROM r) - $2::bigint + i.ord + 1, "
                 "i.document FROM json_to_recordset($1::json) AS i(ord bigint, uuid text, "
                 "project_id text, document text)",
                 {rows_json, count}));
      METASTACK_RETURN_IF_ERROR(
          s.Exec("INSERT INTO instance_ports (instance_uuid, ordinal, port_id, network_id, "
                 "router_id) SELECT p.instance_uuid, p.ordinal, p.port_id, p.network_id, "
                 "p.router_id FROM json_to_recordset($1::json) AS p(instance_uuid text, "
                 "ordinal integer, port_id text, network_id text, router_id text)",
                 {ports_json}));
      METASTACK_RETURN_IF_ERROR(
          s.Exec("INSERT INTO port_index (network_id, ip_address, instance_uuid, port_id, mac, "
                 "project_id) SELECT b.network_id, b.ip_address, b.instance_uuid, b.port_id, "
                 "b.mac, b.project_id FROM json_to_recordset($1::json) AS b(instance_uuid text, "
                 "network_id text, ip_address text, port_id text, mac text, project_id text) "
                 "ORDER BY b.network_id, b.ip_address",
                 {bindings_json}));
      return Ok();
    });
  }

  Result<InstanceRecord> GetInstance(std::string_view uuid) override {
    return pg::Query(pool_, [&](Session& s) -> Result<InstanceRecord> {
      METASTACK_ASSIGN_OR_RETURN(Rows rows, s.Exec(pg::kGetInstanceSql, {uuid}));
      if (rows.empty()) return NotFound("instance", uuid);
      return RecordAt(rows, 0);
    });
  }

  Result<Page<InstanceRecord>> ListInstances(const ListOptions& options) override {
    size_t limit = internal::PageLimit(options);
    return pg::Query(pool_, [&](Session& s) -> Result<Page<InstanceRecord>> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows, s.Exec("SELECT uuid, revision, document FROM instances "
                            "WHERE uuid > $1 AND ($2 = '' OR project_id = $2) "
                            "ORDER BY uuid LIMIT $3::bigint",
                            {options.after, options.project_id, std::to_string(limit + 1)}));
      std::vector<InstanceRecord> items;
      for (int i = 0; i < rows.size(); ++i) {
        METASTACK_ASSIGN_OR_RETURN(InstanceRecord rec, RecordAt(rows, i));
        items.push_back(std::move(rec));
      }
      return MakePage<InstanceRecord>(std::move(items), limit,
                                      [](const InstanceRecord& r) { return r.instance.uuid; });
    });
  }

  Result<InstanceRecord> ReplaceInstance(const core::Instance& instance,
                                         std::optional<int64_t> expected_revision) override {
    std::string document = Document(instance);
    return pg::Transact(pool_, [&](Session& s) -> Result<InstanceRecord> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec("SELECT revision FROM instances WHERE uuid = $1 FOR UPDATE", {instance.uuid}));
      if (rows.empty()) return NotFound("instance", instance.uuid);
      int64_t current = rows.Int(0, 0);
      if (expected_revision && *expected_revision != current)
        return std::unexpected(StaleRevision(instance.uuid, current, *expected_revision));
      METASTACK_RETURN_IF_ERROR(CheckWrite(s, instance));
      METASTACK_RETURN_IF_ERROR(
          s.Exec("UPDATE instances SET project_id = $2, document = $3 WHERE uuid = $1",
                 {instance.uuid, instance.project_id, document}));
      METASTACK_RETURN_IF_ERROR(
          s.Exec("DELETE FROM instance_ports WHERE instance_uuid = $1", {instance.uuid}));
      METASTACK_RETURN_IF_ERROR(
          s.Exec("DELETE FROM port_index WHERE instance_uuid = $1", {instance.uuid}));
      METASTACK_RETURN_IF_ERROR(IndexPorts(s, instance));
      METASTACK_ASSIGN_OR_RETURN(int64_t revision,
                                 Announce(s, Change::Kind::kInstance, instance.uuid, false));
      return InstanceRecord{instance, revision};
    });
  }

  Status DeleteInstance(std::string_view uuid) override {
    return pg::Transact(pool_, [&](Session& s) -> Status {
      // The port rows go with it (ON DELETE CASCADE).
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows, s.Exec("DELETE FROM instances WHERE uuid = $1 RETURNING 1", {uuid}));
      if (rows.empty()) return NotFound("instance", uuid);
      METASTACK_RETURN_IF_ERROR(Announce(s, Change::Kind::kInstance, uuid, true));
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

  Result<Network> CreateNetwork(const Network& network) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckNetworkFields(network));
    return pg::Transact(pool_, [&](Session& s) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(Rows existing,
                                 s.Exec("SELECT 1 FROM networks WHERE id = $1", {network.id}));
      if (!existing.empty()) return Conflict("network " + network.id + " exists");
      if (network.router_id) {
        // FOR SHARE: the router cannot be deleted before this commits.
        METASTACK_ASSIGN_OR_RETURN(
            Rows router,
            s.Exec("SELECT 1 FROM routers WHERE id = $1 FOR SHARE", {*network.router_id}));
        if (router.empty())
          return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                           "unknown router " + *network.router_id, "router_id"));
      }
      METASTACK_RETURN_IF_ERROR(
          s.Exec("INSERT INTO networks (id, name, project_id, router_id, revision, host, "
                 "http_tokens) VALUES ($1, $2, $3, $4, 0, $5, $6)",
                 {network.id, network.name, network.project_id,
                  network.router_id ? pg::Param(*network.router_id) : std::nullopt, network.host,
                  PolicyParam(network.http_tokens)}));
      Network n = network;
      METASTACK_ASSIGN_OR_RETURN(n.revision, Announce(s, Change::Kind::kNetwork, n.id, false));
      return n;
    });
  }

  Result<Network> GetNetwork(std::string_view id) override {
    return pg::Query(pool_, [&](Session& s) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec(
              "SELECT id, name, project_id, router_id, revision, host, http_tokens FROM networks "
              "WHERE id = $1",
              {id}));
      if (rows.empty()) return NotFound("network", id);
      return NetworkAt(rows, 0);
    });
  }

  Result<Page<Network>> ListNetworks(const ListOptions& options) override {
    size_t limit = internal::PageLimit(options);
    return pg::Query(pool_, [&](Session& s) -> Result<Page<Network>> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec(
              "SELECT id, name, project_id, router_id, revision, host, http_tokens FROM networks "
              "WHERE id > $1 AND ($2 = '' OR project_id = $2) "
              "ORDER BY id LIMIT $3::bigint",
              {options.after, options.project_id, std::to_string(limit + 1)}));
      std::vector<Network> items;
      for (int i = 0; i < rows.size(); ++i) items.push_back(NetworkAt(rows, i));
      return MakePage<Network>(std::move(items), limit, [](const Network& n) { return n.id; });
    });
  }

  Status DeleteNetwork(std::string_view id) override {
    return pg::Transact(pool_, [&](Session& s) -> Status {
      // FOR UPDATE waits for writers holding it FOR SHARE (instances being written onto it).
      METASTACK_ASSIGN_OR_RETURN(Rows network,
                                 s.Exec("SELECT 1 FROM networks WHERE id = $1 FOR UPDATE", {id}));
      if (network.empty()) return NotFound("network", id);
      METASTACK_ASSIGN_OR_RETURN(
          Rows ports, s.Exec("SELECT instance_uuid, port_id FROM instance_ports "
                             "WHERE network_id = $1 ORDER BY instance_uuid, ordinal LIMIT 1",
                             {id}));
      if (!ports.empty())
        return Conflict("network " + std::string(id) + " has port " + ports.String(0, 1) +
                        " of instance " + ports.String(0, 0));
      METASTACK_RETURN_IF_ERROR(s.Exec("DELETE FROM networks WHERE id = $1", {id}));
      METASTACK_RETURN_IF_ERROR(Announce(s, Change::Kind::kNetwork, id, true));
      return Ok();
    });
  }

  Result<Router> CreateRouter(const Router& router) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckRouterFields(router));
    return pg::Transact(pool_, [&](Session& s) -> Result<Router> {
      METASTACK_ASSIGN_OR_RETURN(Rows existing,
                                 s.Exec("SELECT 1 FROM routers WHERE id = $1", {router.id}));
      if (!existing.empty()) return Conflict("router " + router.id + " exists");
      METASTACK_RETURN_IF_ERROR(
          s.Exec("INSERT INTO routers (id, name, project_id, revision, host) "
                 "VALUES ($1, $2, $3, 0, $4)",
                 {router.id, router.name, router.project_id, router.host}));
      Router r = router;
      METASTACK_ASSIGN_OR_RETURN(r.revision, Announce(s, Change::Kind::kRouter, r.id, false));
      return r;
    });
  }

  Result<Router> GetRouter(std::string_view id) override {
    return pg::Query(pool_, [&](Session& s) -> Result<Router> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec("SELECT id, name, project_id, revision, host FROM routers WHERE id = $1", {id}));
      if (rows.empty()) return NotFound("router", id);
      return RouterAt(rows, 0);
    });
  }

  Result<Page<Router>> ListRouters(const ListOptions& options) override {
    size_t limit = internal::PageLimit(options);
    return pg::Query(pool_, [&](Session& s) -> Result<Page<Router>> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows, s.Exec("SELECT id, name, project_id, revision, host FROM routers "
                            "WHERE id > $1 AND ($2 = '' OR project_id = $2) "
                            "ORDER BY id LIMIT $3::bigint",
                            {options.after, options.project_id, std::to_string(limit + 1)}));
      std::vector<Router> items;
      for (int i = 0; i < rows.size(); ++i) items.push_back(RouterAt(rows, i));
      return MakePage<Router>(std::move(items), limit, [](const Router& r) { return r.id; });
    });
  }

  Status DeleteRouter(std::string_view id) override {
    return pg::Transact(pool_, [&](Session& s) -> Status {
      METASTACK_ASSIGN_OR_RETURN(Rows router,
                                 s.Exec("SELECT 1 FROM routers WHERE id = $1 FOR UPDATE", {id}));
      if (router.empty()) return NotFound("router", id);
      METASTACK_ASSIGN_OR_RETURN(
          Rows attached,
          s.Exec("SELECT id FROM networks WHERE router_id = $1 ORDER BY id LIMIT 1", {id}));
      if (!attached.empty())
        return Conflict("router " + std::string(id) + " has network " + attached.String(0, 0) +
                        " attached");
      METASTACK_RETURN_IF_ERROR(s.Exec("DELETE FROM routers WHERE id = $1", {id}));
      METASTACK_RETURN_IF_ERROR(Announce(s, Change::Kind::kRouter, id, true));
      return Ok();
    });
  }

  Result<Network> SetNetworkRouter(std::string_view network_id,
                                   std::string_view router_id) override {
    return pg::Transact(pool_, [&](Session& s) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec(
              "SELECT id, name, project_id, router_id, revision, host, http_tokens FROM networks "
              "WHERE id = $1 FOR UPDATE",
              {network_id}));
      if (rows.empty()) return NotFound("network", network_id);
      Network n = NetworkAt(rows, 0);
      if (!router_id.empty()) {
        METASTACK_ASSIGN_OR_RETURN(
            Rows router, s.Exec("SELECT 1 FROM routers WHERE id = $1 FOR SHARE", {router_id}));
        if (router.empty()) return NotFound("router", router_id);
        n.router_id = std::string(router_id);
      } else {
        METASTACK_ASSIGN_OR_RETURN(
            Rows ports, s.Exec("SELECT instance_uuid, port_id, router_id FROM instance_ports "
                               "WHERE network_id = $1 AND router_id IS NOT NULL "
                               "ORDER BY instance_uuid, ordinal LIMIT 1",
                               {network_id}));
        if (!ports.empty())
          return Conflict("port " + ports.String(0, 1) + " of instance " + ports.String(0, 0) +
                          " names router " + ports.String(0, 2));
        n.router_id.reset();
      }
      METASTACK_RETURN_IF_ERROR(
          s.Exec("UPDATE networks SET router_id = $2 WHERE id = $1",
                 {network_id, n.router_id ? pg::Param(*n.router_id) : std::nullopt}));
      METASTACK_ASSIGN_OR_RETURN(n.revision, Announce(s, Change::Kind::kNetwork, n.id, false));
      return n;
    });
  }

  Result<Router> SetRouterHost(std::string_view router_id, std::string_view host) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckHost(host));
    return pg::Transact(pool_, [&](Session& s) -> Result<Router> {
      METASTACK_ASSIGN_OR_RETURN(Rows rows, s.Exec("UPDATE routers SET host = $2 WHERE id = $1 "
                                                   "RETURNING id, name, project_id, revision, host",
                                                   {router_id, host}));
      if (rows.empty()) return NotFound("router", router_id);
      Router r = RouterAt(rows, 0);
      METASTACK_ASSIGN_OR_RETURN(r.revision, Announce(s, Change::Kind::kRouter, r.id, false));
      return r;
    });
  }

  Result<Network> SetNetworkHost(std::string_view network_id, std::string_view host) override {
    METASTACK_RETURN_IF_ERROR(internal::CheckHost(host));
    return pg::Transact(pool_, [&](Session& s) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec("UPDATE networks SET host = $2 WHERE id = $1 "
                 "RETURNING id, name, project_id, router_id, revision, host, http_tokens",
                 {network_id, host}));
      if (rows.empty()) return NotFound("network", network_id);
      Network n = NetworkAt(rows, 0);
      METASTACK_ASSIGN_OR_RETURN(n.revision, Announce(s, Change::Kind::kNetwork, n.id, false));
      return n;
    });
  }

  Result<Network> SetNetworkHttpTokens(std::string_view network_id,
                                       std::optional<core::HttpTokens> policy) override {
    return pg::Transact(pool_, [&](Session& s) -> Result<Network> {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec("UPDATE networks SET http_tokens = $2 WHERE id = $1 "
                 "RETURNING id, name, project_id, router_id, revision, host, http_tokens",
                 {network_id, PolicyParam(policy)}));
      if (rows.empty()) return NotFound("network", network_id);
      Network n = NetworkAt(rows, 0);
      METASTACK_ASSIGN_OR_RETURN(n.revision, Announce(s, Change::Kind::kNetwork, n.id, false));
      return n;
    });
  }

  Result<PortBinding> FindPortOnNetwork(std::string_view network_id, std::string_view ip) override {
    METASTACK_ASSIGN_OR_RETURN(auto query, internal::PortQueryFor(ip));
    return pg::Query(pool_, [&](Session& s) -> Result<PortBinding> {
      METASTACK_ASSIGN_OR_RETURN(
          auto found,
          Matching(s, query.by_mac ? pg::kFindPortByMacOnNetworkSql : pg::kFindPortOnNetworkSql,
                   network_id, query.value));
      return internal::OnePort(std::move(found), query, "on network", network_id);
    });
  }

  Result<PortBinding> FindPortOnRouter(std::string_view router_id, std::string_view ip) override {
    METASTACK_ASSIGN_OR_RETURN(auto query, internal::PortQueryFor(ip));
    return pg::Query(pool_, [&](Session& s) -> Result<PortBinding> {
      METASTACK_ASSIGN_OR_RETURN(Rows router, s.Exec(pg::kRouterExistsSql, {router_id}));
      if (router.empty()) return NotFound("router", router_id);
      METASTACK_ASSIGN_OR_RETURN(
          auto found,
          Matching(s, query.by_mac ? pg::kFindPortByMacOnRouterSql : pg::kFindPortOnRouterSql,
                   router_id, query.value));
      return internal::OnePort(std::move(found), query, "behind router", router_id);
    });
  }

  Result<Page<PortBinding>> ListPorts(std::string_view network_id,
                                      const ListOptions& options) override {
    size_t limit = internal::PageLimit(options);
    auto [after_network, after_ip] = internal::SplitPortKey(options.after);
    return pg::Query(pool_, [&](Session& s) -> Result<Page<PortBinding>> {
      // A keyset page: a range scan of UNIQUE (network_id, ip_address) from the marker on.
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec("SELECT port_id, mac, network_id, ip_address, instance_uuid, project_id "
                 "FROM port_index WHERE (network_id, ip_address) > ($1, $2) "
                 "AND ($3 = '' OR network_id = $3) AND ($4 = '' OR project_id = $4) "
                 "ORDER BY network_id, ip_address LIMIT $5::bigint",
                 {after_network, after_ip, network_id, options.project_id,
                  std::to_string(limit + 1)}));
      std::vector<PortBinding> items;
      for (int i = 0; i < rows.size(); ++i) items.push_back(BindingAt(rows, i));
      return MakePage<PortBinding>(std::move(items), limit, PortKey);
    });
  }

  Result<int64_t> CurrentRevision() override {
    return pg::Query(pool_, [&](Session& s) -> Result<int64_t> {
      METASTACK_ASSIGN_OR_RETURN(Rows rows, s.Exec("SELECT value FROM store_revision"));
      return rows.Int(0, 0);
    });
  }

  std::unique_ptr<Subscription> Subscribe(std::function<void(const Change&)> callback) override {
    auto subscription = hub_.Subscribe(std::move(callback));
    listener_.Start();
    return subscription;
  }

 private:
  Result<InstanceRecord> InsertInstance(Session& s, const core::Instance& instance) {
    METASTACK_ASSIGN_OR_RETURN(Rows existing,
                               s.Exec("SELECT 1 FROM instances WHERE uuid = $1", {instance.uuid}));
    if (!existing.empty()) return Conflict("instance " + instance.uuid + " exists");
    METASTACK_RETURN_IF_ERROR(CheckWrite(s, instance));
    METASTACK_RETURN_IF_ERROR(
        s.Exec("INSERT INTO instances (uuid, project_id, revision, document) "
               "VALUES ($1, $2, 0, $3)",
               {instance.uuid, instance.project_id, Document(instance)}));
    METASTACK_RETURN_IF_ERROR(IndexPorts(s, instance));
    METASTACK_ASSIGN_OR_RETURN(int64_t revision,
                               Announce(s, Change::Kind::kInstance, instance.uuid, false));
    return InstanceRecord{instance, revision};
  }

  // The document's ports against the networks they name, locked FOR SHARE until commit so
  // they cannot be deleted or re-attached under this write, and its IPs against other
  // instances'. Same checks, same order, same messages as the memory store.
  Status CheckWrite(Session& s, const core::Instance& instance) {
    std::map<std::string, Network> networks;
    if (!instance.ports.empty()) {
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows,
          s.Exec(
              "SELECT id, name, project_id, router_id, revision, host, http_tokens FROM networks "
              "WHERE id IN (SELECT json_array_elements_text($1::json)) "
              "ORDER BY id FOR SHARE",
              {NetworkIdsJson(instance)}));
      for (int i = 0; i < rows.size(); ++i) {
        Network n = NetworkAt(rows, i);
        networks.emplace(n.id, std::move(n));
      }
    }
    METASTACK_RETURN_IF_ERROR(internal::CheckPortsAgainstNetworks(
        instance, [&](const std::string& id) -> std::optional<Network> {
          auto it = networks.find(id);
          if (it == networks.end()) return std::nullopt;
          return it->second;
        }));
    auto bindings = internal::Bindings(instance);
    if (bindings.empty()) return Ok();
    METASTACK_ASSIGN_OR_RETURN(
        Rows taken,
        s.Exec("SELECT b.ip_address, b.network_id, p.instance_uuid "
               "FROM json_to_recordset($1::json) AS b(ord integer, network_id text, "
               "ip_address text) "
               "JOIN port_index p ON p.network_id = b.network_id AND p.ip_address = b.ip_address "
               "WHERE p.instance_uuid <> $2 ORDER BY b.ord LIMIT 1",
               {BindingsJson(bindings), instance.uuid}));
    if (!taken.empty())
      return Conflict("IP " + taken.String(0, 0) + " on network " + taken.String(0, 1) +
                      " belongs to instance " + taken.String(0, 2));
    return Ok();
  }

  // Writes the instance's rows of instance_ports and port_index (old ones already deleted).
  Status IndexPorts(Session& s, const core::Instance& instance) {
    if (instance.ports.empty()) return Ok();
    METASTACK_RETURN_IF_ERROR(
        s.Exec("INSERT INTO instance_ports (instance_uuid, ordinal, port_id, network_id, "
               "router_id) SELECT $1, p.ordinal, p.port_id, p.network_id, p.router_id "
               "FROM json_to_recordset($2::json) AS p(ordinal integer, port_id text, "
               "network_id text, router_id text)",
               {instance.uuid, PortsJson(instance)}));
    auto bindings = internal::Bindings(instance);
    if (bindings.empty()) return Ok();
    // Inserted in key order, so two writers racing for the same IPs queue rather than deadlock.
    METASTACK_RETURN_IF_ERROR(
        s.Exec("INSERT INTO port_index (network_id, ip_address, instance_uuid, port_id, mac, "
               "project_id) SELECT b.network_id, b.ip_address, $1, b.port_id, b.mac, "
               "b.project_id FROM json_to_recordset($2::json) AS b(network_id text, "
               "ip_address text, port_id text, mac text, project_id text) "
               "ORDER BY b.network_id, b.ip_address",
               {instance.uuid, BindingsJson(bindings)}));
    return Ok();
  }

  Result<InstanceRecord> EditInstance(std::string_view uuid,
                                      const std::function<Status(core::Instance&)>& edit) {
    return pg::Transact(pool_, [&](Session& s) -> Result<InstanceRecord> {
      // FOR UPDATE: concurrent edits of one instance queue here and each sees the last one.
      METASTACK_ASSIGN_OR_RETURN(
          Rows rows, s.Exec("SELECT uuid, revision, document FROM instances WHERE uuid = $1 "
                            "FOR UPDATE",
                            {uuid}));
      if (rows.empty()) return NotFound("instance", uuid);
      METASTACK_ASSIGN_OR_RETURN(InstanceRecord rec, RecordAt(rows, 0));
      METASTACK_RETURN_IF_ERROR(edit(rec.instance));
      METASTACK_RETURN_IF_ERROR(s.Exec("UPDATE instances SET document = $2 WHERE uuid = $1",
                                       {uuid, Document(rec.instance)}));
      METASTACK_ASSIGN_OR_RETURN(rec.revision, Announce(s, Change::Kind::kInstance, uuid, false));
      return rec;
    });
  }

  pg::ConnectionPool pool_;
  internal::ChangeHub hub_;
  pg::Listener listener_;  // after hub_: stops publishing into it before it goes
};

}  // namespace

Status PostgresBulkCreateInstancesForTesting(Store& store,
                                             const std::vector<core::Instance>& instances) {
  auto* postgres = dynamic_cast<PostgresStore*>(&store);
  if (!postgres)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "PostgresBulkCreateInstancesForTesting: not a PostgreSQL "
                                     "store"));
  return postgres->CreateInstances(instances);
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo,
                                                 const PostgresOptions& options) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (!parsed) {
    std::string why = parse_error ? pg::OneLine(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "postgresql: bad connection string: " + why));
  }
  PQconninfoFree(parsed);
  auto store = std::make_unique<PostgresStore>(
      pg::ConnParams(conninfo, options.connect_timeout_seconds), options.pool_size);
  METASTACK_RETURN_IF_ERROR(store->Migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace metastack::store
