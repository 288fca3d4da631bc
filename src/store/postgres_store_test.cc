// The PostgreSQL store: the contract suite on a fresh database per test, and what only a shared
// server has: migrations, an unreachable or stopped server, several Store objects (standing in
// for several processes) writing one database, and the change feed between them.

#include "store/postgres_store.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/instance.h"
#include "store/memory_store.h"
#include "store/postgres_listener.h"
#include "store/postgres_schema.h"
#include "store/postgres_test_cluster.h"
#include "store/store_contract_test.h"

namespace metastack::store::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

Result<std::string> FreshDatabaseUri() {
  METASTACK_ASSIGN_OR_RETURN(PostgresTestCluster * cluster, PostgresTestCluster::Shared());
  METASTACK_ASSIGN_OR_RETURN(std::string db, cluster->CreateDatabase());
  return cluster->Uri(db);
}

std::unique_ptr<Store> FreshStore() {
  auto uri = FreshDatabaseUri();
  if (!uri) {
    ADD_FAILURE() << uri.error().ToString();
    return nullptr;
  }
  auto store = OpenPostgresStore(*uri);
  if (!store) {
    ADD_FAILURE() << store.error().ToString();
    return nullptr;
  }
  return std::move(*store);
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(StoreFactory{"postgres", FreshStore}),
                         [](const auto& info) { return info.param.name; });

// Collects changes; waits (bounded) for one that matches.
class ChangeLog {
 public:
  std::function<void(const Change&)> Callback() {
    return [this](const Change& c) {
      std::lock_guard lock(mu_);
      changes_.push_back(c);
      cv_.notify_all();
    };
  }
  bool WaitFor(const std::function<bool(const Change&)>& match, milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout,
                        [&] { return std::any_of(changes_.begin(), changes_.end(), match); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Change> changes_;
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = PostgresTestCluster::Shared();
    ASSERT_TRUE(cluster) << cluster.error().ToString();
    cluster_ = *cluster;
    auto db = cluster_->CreateDatabase();
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = *db;
  }
  std::unique_ptr<Store> Open() {
    auto store = OpenPostgresStore(cluster_->Uri(db_));
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  PostgresTestCluster* cluster_ = nullptr;
  std::string db_;
};

TEST_F(PostgresStoreTest, OpenStoreAcceptsBothSchemes) {
  std::string uri = cluster_->Uri(db_);
  auto a = OpenStore(uri);
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = OpenStore("postgres" + uri.substr(std::string_view("postgresql").size()));
  ASSERT_TRUE(b) << b.error().ToString();
  ASSERT_TRUE((*a)->CreateRouter({"r1", "r1", "p", 0, ""}));
  EXPECT_TRUE((*b)->GetRouter("r1"));
}

TEST_F(PostgresStoreTest, SchemaNewerThanTheBinaryIsRefused) {
  ASSERT_TRUE(Open());
  ASSERT_TRUE(cluster_->Exec(db_, "UPDATE schema_version SET version = 99"));
  auto store = OpenPostgresStore(cluster_->Uri(db_));
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.error().message,
            "postgresql: schema version 99 is newer than this metastack supports (4)");
}

TEST_F(PostgresStoreTest, ConcurrentOpensMigrateOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto store = OpenPostgresStore(cluster_->Uri(db_));
      EXPECT_TRUE(store) << store.error().ToString();
      if (store) ++opened;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(opened.load(), 4);
  EXPECT_EQ(*cluster_->Exec(db_, "SELECT count(*) || ' ' || max(version) FROM schema_version"),
            "1 " + std::to_string(kPostgresSchemaVersion));
}

// A database from before link-local look-ups (schema 2: MACs as written, no (network_id, mac)
// index) opens migrated: its ports are found by the MAC a link-local address names.
TEST_F(PostgresStoreTest, DatabaseFromBeforeMacLookupsIsMigrated) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
    ASSERT_TRUE(store->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  }
  for (const char* sql :
       {"DROP INDEX port_index_network_mac", "UPDATE port_index SET mac = upper(mac)",
        "ALTER TABLE networks DROP COLUMN http_tokens", "UPDATE schema_version SET version = 2"})
    ASSERT_TRUE(cluster_->Exec(db_, sql)) << sql;
  auto store = Open();
  ASSERT_TRUE(store);
  auto port = store->FindPortOnNetwork("net-a", "fe80::f816:3eff:fe00:1");
  ASSERT_TRUE(port) << port.error().ToString();
  EXPECT_EQ(port->instance_id, kU1);
  EXPECT_EQ(port->mac, "fa:16:3e:00:00:01");
  EXPECT_EQ(*cluster_->Exec(db_,
                            "SELECT max(version) || ' ' || count(*) FROM schema_version, "
                            "pg_indexes WHERE indexname = 'port_index_network_mac'"),
            std::to_string(kPostgresSchemaVersion) + " 1");
}

// A database from before session policies (schema 3) opens migrated: its networks have none,
// and one can be set.
TEST_F(PostgresStoreTest, DatabaseFromBeforeHttpTokensIsMigrated) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, "node-1"}));
  }
  for (const char* sql :
       {"ALTER TABLE networks DROP COLUMN http_tokens", "UPDATE schema_version SET version = 3"})
    ASSERT_TRUE(cluster_->Exec(db_, sql)) << sql;
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->GetNetwork("net-a")->host, "node-1");
  EXPECT_EQ(store->GetNetwork("net-a")->http_tokens, std::nullopt);
  ASSERT_TRUE(store->SetNetworkHttpTokens("net-a", core::HttpTokens::kRequired));
  EXPECT_EQ(store->GetNetwork("net-a")->http_tokens, core::HttpTokens::kRequired);
  EXPECT_EQ(*cluster_->Exec(db_, "SELECT max(version) FROM schema_version"), "4");
}

// The metadata path's look-ups are served by indexes. With sequential scans priced out
// (enable_seqscan = off) the planner still picks one when, and only when, no index can serve.
TEST_F(PostgresStoreTest, BulkCreateIsAllOrNothing) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  std::vector<core::Instance> batch = {InstanceWithPort(kU1, "net-a", "10.0.0.1"),
                                       InstanceWithPort(kU2, "net-a", "10.0.0.2"),
                                       InstanceWithPort(kU3, "net-a", "10.0.0.1")};
  // A taken IP (here within the batch) refuses the whole batch through the schema's constraint.
  auto rejected = PostgresBulkCreateInstancesForTesting(*store, batch);
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code, ErrorCode::kConflict);
  EXPECT_NE(rejected.error().message.find("port_index_network_id_ip_address_key"),
            std::string::npos)
      << rejected.error().message;
  EXPECT_EQ(*store->CurrentRevision(), 1);
  EXPECT_TRUE(store->ListPorts("", {})->items.empty());
  EXPECT_FALSE(store->GetInstance(kU1));
  // A port on a network that does not exist: the same.
  auto nowhere = PostgresBulkCreateInstancesForTesting(
      *store, {InstanceWithPort(kU1, "net-missing", "10.0.0.9")});
  ASSERT_FALSE(nowhere);
  EXPECT_EQ(nowhere.error().code, ErrorCode::kConflict);
  batch.pop_back();
  ASSERT_TRUE(PostgresBulkCreateInstancesForTesting(*store, batch));
  // Revisions in the batch's order, as creates one after the other take them.
  EXPECT_EQ(store->GetInstance(kU1)->revision, 2);
  EXPECT_EQ(store->GetInstance(kU2)->revision, 3);
  EXPECT_EQ(*store->CurrentRevision(), 3);
  EXPECT_EQ(core::InstanceToJson(store->GetInstance(kU2)->instance),
            core::InstanceToJson(batch[1]));
  EXPECT_EQ(store->FindPortOnNetwork("net-a", "10.0.0.2")->instance_id, kU2);
  EXPECT_EQ(store->ListPorts("", {})->items.size(), 2u);
  // An instance that exists already.
  auto again = PostgresBulkCreateInstancesForTesting(*store, {batch[0]});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(*store->CurrentRevision(), 3);
  auto memory = NewMemoryStore();
  EXPECT_EQ(PostgresBulkCreateInstancesForTesting(*memory, batch).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(PostgresStoreTest, LookupsSearchIndexesNeverScan) {
  ASSERT_TRUE(Open());
  const std::pair<const char*, const char*> queries[] = {
      {pg::kGetInstanceSql, "('00000000-0000-4000-8000-000000000001')"},
      {pg::kRouterExistsSql, "('r1')"},
      {pg::kFindPortOnNetworkSql, "('net-a', '10.0.0.5')"},
      {pg::kFindPortOnRouterSql, "('r1', '10.0.0.5')"},
      {pg::kFindPortByMacOnNetworkSql, "('net-a', 'fa:16:3e:00:04:07')"},
      {pg::kFindPortByMacOnRouterSql, "('r1', 'fa:16:3e:00:04:07')"},
  };
  for (const auto& [sql, args] : queries) {
    auto plan = cluster_->Exec(db_, std::string("SET enable_seqscan = off; PREPARE q AS ") + sql +
                                        "; EXPLAIN (FORMAT JSON) EXECUTE q" + args);
    ASSERT_TRUE(plan) << plan.error().ToString();
    EXPECT_EQ(plan->find("Seq Scan"), std::string::npos) << sql << "\n  plan: " << *plan;
    EXPECT_NE(plan->find("Index"), std::string::npos) << sql << "\n  plan: " << *plan;
  }
}

TEST(PostgresStoreOpenTest, BadConnectionString) {
  auto store = OpenPostgresStore("postgresql://[::1");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store.error().message.starts_with("postgresql: bad connection string: "))
      << store.error().message;
}

TEST(PostgresStoreOpenTest, UnreachableServerIsUnavailable) {
  auto start = Clock::now();
  auto store = OpenPostgresStore("postgresql:///x?host=/nonexistent-metastack&port=1");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(store.error().message.starts_with(
      "postgresql: cannot connect: connection to server on socket "
      "\"/nonexistent-metastack/.s.PGSQL.1\" failed"))
      << store.error().message;
  EXPECT_LT(Clock::now() - start, seconds(5));
}

// A peer that completes the TCP handshake and then never answers: only connect_timeout (ours,
// since the URI sets none) ends the wait.
TEST(PostgresStoreOpenTest, SilentServerTimesOut) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto start = Clock::now();
  auto store =
      OpenPostgresStore("postgresql://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x",
                        {.connect_timeout_seconds = 2});
  close(fd);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(store.error().message.starts_with("postgresql: cannot connect: "))
      << store.error().message;
  EXPECT_NE(store.error().message.find("timeout expired"), std::string::npos)
      << store.error().message;
  EXPECT_LT(Clock::now() - start, seconds(5));
}

// Its own cluster: stopping the shared one would break the other tests.
TEST(PostgresStoreServerTest, StoppedServerIsUnavailableThenRecovers) {
  auto cluster = PostgresTestCluster::Start();
  ASSERT_TRUE(cluster) << cluster.error().ToString();
  auto db = (*cluster)->CreateDatabase();
  ASSERT_TRUE(db) << db.error().ToString();
  auto store = OpenPostgresStore((*cluster)->Uri(*db), {.pool_size = 2});
  ASSERT_TRUE(store) << store.error().ToString();
  ChangeLog log;
  auto sub = (*store)->Subscribe(log.Callback());
  ASSERT_TRUE((*store)->CreateNetwork({"net-a", "a", "p", std::nullopt, 0, ""}));

  ASSERT_TRUE((*cluster)->Stop());
  auto start = Clock::now();
  auto read = (*store)->GetNetwork("net-a");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(read.error().message.starts_with("postgresql: cannot connect: "))
      << read.error().message;
  auto write = (*store)->CreateRouter({"r1", "r1", "p", 0, ""});
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, ErrorCode::kUnavailable) << write.error().ToString();
  EXPECT_LT(Clock::now() - start, seconds(5));

  ASSERT_TRUE((*cluster)->Restart());
  auto again = (*store)->GetNetwork("net-a");
  EXPECT_TRUE(again) << again.error().ToString();
  // The listener comes back and tells subscribers to flush, then delivers again.
  EXPECT_TRUE(log.WaitFor([](const Change& c) { return c.id.empty(); }, seconds(15)));
  ASSERT_TRUE((*store)->CreateRouter({"r2", "r2", "p", 0, ""}));
  EXPECT_TRUE(log.WaitFor([](const Change& c) { return c.id == "r2"; }, seconds(5)));
}

TEST_F(PostgresStoreTest, TwoStoresShareStateAndChanges) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  ChangeLog log;
  auto sub = b->Subscribe(log.Callback());
  ASSERT_TRUE(a->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  auto created = a->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5"));
  ASSERT_TRUE(created) << created.error().ToString();
  auto seen = b->GetInstance(kU1);
  ASSERT_TRUE(seen) << seen.error().ToString();
  EXPECT_EQ(seen->revision, created->revision);
  EXPECT_EQ(b->FindPortOnNetwork("net-a", "10.0.0.5")->instance_id, kU1);
  int64_t revision = created->revision;
  EXPECT_TRUE(log.WaitFor(
      [&](const Change& c) {
        return c.kind == Change::Kind::kInstance && c.id == kU1 && c.revision == revision &&
               !c.deleted;
      },
      seconds(5)));
  // Any process that speaks the channel's format is heard, not only a Store.
  ASSERT_TRUE(cluster_->Exec(db_, "SELECT pg_notify('metastack_changes', '777 router r9 1')"));
  EXPECT_TRUE(log.WaitFor(
      [](const Change& c) {
        return c.revision == 777 && c.kind == Change::Kind::kRouter && c.id == "r9" && c.deleted;
      },
      seconds(5)));
}

TEST_F(PostgresStoreTest, ConcurrentEditsThroughTwoStoresLoseNothing) {
  std::unique_ptr<Store> stores[] = {Open(), Open()};
  ASSERT_TRUE(stores[0] && stores[1]);
  ASSERT_TRUE(stores[0]->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(stores[0]->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  constexpr int kThreads = 4, kEdits = 15;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      Store& store = *stores[t % 2];
      for (int i = 0; i < kEdits; ++i)
        while (true) {  // read, edit, replace; retry when another writer won (kAborted)
          auto cur = store.GetInstance(kU1);
          ASSERT_TRUE(cur) << cur.error().ToString();
          core::Instance inst = cur->instance;
          inst.meta.emplace_back("t" + std::to_string(t) + "-" + std::to_string(i), "v");
          auto r = store.ReplaceInstance(inst, cur->revision);
          if (r) break;
          ASSERT_EQ(r.error().code, ErrorCode::kAborted) << r.error().ToString();
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(stores[1]->GetInstance(kU1)->instance.meta.size(), size_t{kThreads * kEdits});
}

TEST_F(PostgresStoreTest, ConcurrentPasswordsThroughTwoStoresOneWins) {
  std::unique_ptr<Store> stores[] = {Open(), Open()};
  ASSERT_TRUE(stores[0] && stores[1]);
  ASSERT_TRUE(stores[0]->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(stores[0]->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  std::atomic<int> ok{0}, conflict{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto r = stores[t % 2]->SetPassword(kU1, "p" + std::to_string(t));
      (r ? ok : conflict)++;
      if (!r) {
        EXPECT_EQ(r.error().code, ErrorCode::kConflict) << r.error().ToString();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflict.load(), 7);
}

// Every outcome, error text included, and every revision equal to the memory store's after
// the same script: the cases the contract suite leaves out (ports without fixed IPs, router
// detaching, ambiguous lookups, field errors) included.
template <typename R>
std::string Outcome(const R& result) {
  if (!result)
    return std::string(ErrorCodeName(result.error().code)) + ": " + result.error().ToString();
  if constexpr (std::is_same_v<typename R::value_type, int64_t>)
    return "ok @" + std::to_string(*result);
  else if constexpr (requires { result->revision; })
    return "ok @" + std::to_string(result->revision);
  else if constexpr (requires { result->instance_id; })
    return "ok " + result->instance_id;
  else
    return "ok";
}

std::string PortsOutcome(Store& store) {
  ListOptions all;
  all.limit = 1000;
  auto ports = store.ListPorts("", all);
  std::string out = Outcome(ports);
  if (ports)
    for (const auto& b : ports->items)
      out += " " + b.network_id + "/" + b.ip_address + "/" + b.port_id + "/" + b.instance_id;
  return out;
}

TEST_F(PostgresStoreTest, OutcomesMatchTheMemoryStore) {
  core::Instance routed_u1 = InstanceWithPort(kU1, "net-a", "10.0.0.5");
  routed_u1.ports[0].router_id = "r1";
  core::Instance routed_u2 = InstanceWithPort(kU2, "net-b", "10.0.0.6");
  routed_u2.ports[0].router_id = "r1";
  core::Instance no_ip_u2 = InstanceWithPort(kU2, "net-b", "10.0.0.6");
  no_ip_u2.ports[0].subnets[0].ip_address.reset();
  const core::Instance moved_u1 = InstanceWithPort(kU1, "net-a", "10.0.0.7");
  using Step = std::function<std::string(Store&)>;
  // clang-format off
  const std::vector<Step> script = {
      [](Store& s) { return Outcome(s.CreateRouter({"r1", "r1", "p", 0, ""})); },
      [](Store& s) { return Outcome(s.CreateRouter({"r1", "again", "p", 0, ""})); },
      [](Store& s) { return Outcome(s.CreateRouter({"", "x", "p", 0, ""})); },
      [](Store& s) { return Outcome(s.CreateNetwork({"net-a", "a", "p", "r1", 0, ""})); },
      [](Store& s) { return Outcome(s.CreateNetwork({"net-b", "b", "p", std::nullopt, 0, ""})); },
      [](Store& s) { return Outcome(s.CreateNetwork({"net-c", "c", "p", "nope", 0, ""})); },
      [](Store& s) { return Outcome(s.CreateNetwork({"net c", "c", "p", std::nullopt, 0, ""})); },
      [&](Store& s) { return Outcome(s.CreateInstance(routed_u1)); },
      [&](Store& s) { return Outcome(s.CreateInstance(routed_u2)); },
      [&](Store& s) { return Outcome(s.CreateInstance(no_ip_u2)); },
      [](Store& s) { return Outcome(s.CreateInstance(InstanceWithPort(kU3, "net-a", "10.0.0.5"))); },
      [](Store& s) { return Outcome(s.DeleteNetwork("net-b")); },
      [](Store& s) { return Outcome(s.SetNetworkRouter("net-a", "")); },
      [](Store& s) { return Outcome(s.DeleteRouter("r1")); },
      [](Store& s) { return Outcome(s.SetNetworkRouter("net-zz", "r1")); },
      [](Store& s) { return Outcome(s.SetNetworkRouter("net-b", "r9")); },
      [](Store& s) { return Outcome(s.SetNetworkRouter("net-b", "r1")); },
      [](Store& s) { return Outcome(s.CreateInstance(InstanceWithPort(kU3, "net-b", "10.0.0.5"))); },
      [](Store& s) { return Outcome(s.FindPortOnRouter("r1", "10.0.0.5")); },
      [](Store& s) { return Outcome(s.FindPortOnRouter("r1", "::ffff:10.0.0.9")); },
      [](Store& s) { return Outcome(s.FindPortOnRouter("r9", "10.0.0.5")); },
      [](Store& s) { return Outcome(s.FindPortOnNetwork("net-a", "10.0.0.9")); },
      [](Store& s) { return Outcome(s.FindPortOnNetwork("net-a", "bogus")); },
      [&](Store& s) { return Outcome(s.ReplaceInstance(moved_u1, 1)); },
      [](Store& s) { return Outcome(s.SetPassword(kU1, "x")); },
      [](Store& s) { return Outcome(s.SetPassword(kU1, "y")); },
      [](Store& s) { return Outcome(s.ResetPassword(kU1)); },
      [](Store& s) { return Outcome(s.ResetPassword("nope")); },
      [](Store& s) { return Outcome(s.DeleteInstance(kU3)); },
      [](Store& s) { return Outcome(s.DeleteInstance(kU3)); },
      [](Store& s) { return Outcome(s.GetNetwork("net-zz")); },
      [](Store& s) { return Outcome(s.GetRouter("r9")); },
      [](Store& s) { return Outcome(s.FindPortOnRouter("r1", "10.0.0.5")); },
      [](Store& s) { return PortsOutcome(s); },
      [](Store& s) { return Outcome(s.CurrentRevision()); },
  };
  // clang-format on
  auto pg = Open();
  ASSERT_TRUE(pg);
  auto memory = NewMemoryStore();
  for (size_t i = 0; i < script.size(); ++i)
    EXPECT_EQ(script[i](*pg), script[i](*memory)) << "step " << i;
}

TEST(PostgresChangePayloadTest, Parses) {
  struct Case {
    const char* payload;
    std::optional<Change> want;
  };
  const Case cases[] = {
      {"12 instance 00000000-0000-4000-8000-000000000001 0",
       Change{12, Change::Kind::kInstance, "00000000-0000-4000-8000-000000000001", false}},
      {"3 network net-a 1", Change{3, Change::Kind::kNetwork, "net-a", true}},
      {"4 router r1 0", Change{4, Change::Kind::kRouter, "r1", false}},
      {"x router r1 0", std::nullopt},
      {"4 switch r1 0", std::nullopt},
      {"4 router r1 2", std::nullopt},
      {"4 router  0", std::nullopt},
      {"4 router", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.payload);
    auto got = pg::ParseChangePayload(c.payload);
    ASSERT_EQ(got.has_value(), c.want.has_value());
    if (!got) continue;
    EXPECT_EQ(got->revision, c.want->revision);
    EXPECT_EQ(got->kind, c.want->kind);
    EXPECT_EQ(got->id, c.want->id);
    EXPECT_EQ(got->deleted, c.want->deleted);
  }
}

}  // namespace
}  // namespace metastack::store::testing
