// The SQLite store: the contract suite, plus what only a file-backed store has to show —
// persistence across reopen, schema versioning, open errors, WAL concurrency, indexed lookups and
// durability across kill -9 of the writer.
#include "store/sqlite_store.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>
#include <tuple>

#include "store/common.h"
#include "store/memory_store.h"
#include "store/sqlite_db.h"
#include "store/sqlite_schema.h"
#include "store/store_contract_test.h"

namespace metastack::store::testing {
namespace {

using namespace std::chrono_literals;

std::string Ip(int n) {
  return "10." + std::to_string((n >> 16) & 255) + "." + std::to_string((n >> 8) & 255) + "." +
         std::to_string(n & 255);
}

// A private directory, removed with everything in it when destroyed.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "metastack-sqlite-XXXXXX";
    if (!mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string NewFile() { return path_ + "/store-" + std::to_string(next_++) + ".db"; }

 private:
  std::string path_;
  std::atomic<int> next_{0};
};

// The contract suite's stores live here until the test binary exits.
ScratchDir& SuiteScratch() {
  static ScratchDir dir;
  return dir;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
                         ::testing::Values(StoreFactory{"sqlite",
                                                        []() -> std::unique_ptr<Store> {
                                                          auto s = OpenSqliteStore(
                                                              SuiteScratch().NewFile());
                                                          if (!s) {
                                                            ADD_FAILURE() << s.error().ToString();
                                                            return nullptr;
                                                          }
                                                          return std::move(*s);
                                                        }}),
                         [](const auto& info) { return info.param.name; });

// A plain connection to the file, beside the store, as another process would have.
std::unique_ptr<sqlite::Connection> RawConnection(const std::string& path) {
  auto db = sqlite::Connection::Open(path, "raw", {false, 0ms});
  EXPECT_TRUE(db) << db.error().ToString();
  return db ? std::move(*db) : nullptr;
}

auto Key(const PortBinding& b) {
  return std::tie(b.network_id, b.ip_address, b.instance_id, b.port_id, b.mac, b.project_id);
}

// The port index holds exactly the bindings the documents imply, and SQLite finds the file sound.
void ExpectConsistent(Store& store, const std::string& path) {
  std::vector<PortBinding> implied;
  ListOptions options;
  options.limit = 1000;
  while (true) {
    auto page = store.ListInstances(options);
    ASSERT_TRUE(page) << page.error().ToString();
    for (const auto& rec : page->items)
      for (auto& b : internal::Bindings(rec.instance)) implied.push_back(std::move(b));
    if (page->next.empty()) break;
    options.after = page->next;
  }
  std::sort(implied.begin(), implied.end(),
            [](const auto& a, const auto& b) { return Key(a) < Key(b); });
  std::vector<PortBinding> indexed;
  for (options.after.clear();;) {
    auto page = store.ListPorts("", options);
    ASSERT_TRUE(page) << page.error().ToString();
    indexed.insert(indexed.end(), page->items.begin(), page->items.end());
    if (page->next.empty()) break;
    options.after = page->next;
  }
  ASSERT_EQ(indexed.size(), implied.size());
  for (size_t i = 0; i < implied.size(); ++i)
    EXPECT_TRUE(Key(indexed[i]) == Key(implied[i])) << "binding " << i;
  auto db = RawConnection(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(db->QueryText("PRAGMA integrity_check").value_or("error"), "ok");
  EXPECT_EQ(db->QueryText("PRAGMA foreign_key_check").value_or("error"), "");
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(const SqliteOptions& options = {}) {
    auto store = OpenSqliteStore(path_, options);
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  ScratchDir dir_;
  std::string path_ = dir_.path() + "/metastack.db";
};

TEST_F(SqliteStoreTest, ReopenPersistsEverything) {
  int64_t revision = 0;
  std::string document;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateRouter({"r1", "router one", "proj-a", 0, ""}));
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", "r1", 0, ""}));
    ASSERT_TRUE(store->CreateNetwork({"net-b", "b", "proj-b", std::nullopt, 0, ""}));
    core::Instance inst = InstanceWithPort(kU1, "net-a", "10.0.0.5");
    inst.ports[0].router_id = "r1";
    inst.user_data = std::string("\x1f\x8b binary", 9);
    ASSERT_TRUE(store->CreateInstance(inst));
    ASSERT_TRUE(store->CreateInstance(InstanceWithPort(kU2, "net-b", "10.0.0.6", "proj-b")));
    ASSERT_TRUE(store->SetPassword(kU1, "secret"));
    ASSERT_TRUE(store->SetNetworkRouter("net-b", "r1"));
    revision = *store->CurrentRevision();
    document = core::DumpPython(core::InstanceToJson(store->GetInstance(kU1)->instance));
  }
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->CurrentRevision(), revision);
  auto u1 = store->GetInstance(kU1);
  ASSERT_TRUE(u1) << u1.error().ToString();
  EXPECT_EQ(core::DumpPython(core::InstanceToJson(u1->instance)), document);
  EXPECT_EQ(*u1->instance.password, "secret");
  EXPECT_EQ(store->GetNetwork("net-b")->router_id, "r1");
  EXPECT_EQ(store->GetRouter("r1")->name, "router one");
  EXPECT_EQ(store->FindPortOnRouter("r1", "10.0.0.6")->instance_id, kU2);
  EXPECT_EQ(store->FindPortOnNetwork("net-a", "10.0.0.5")->instance_id, kU1);
  EXPECT_EQ(store->ListRouters({})->items.size(), 1u);
  EXPECT_EQ(store->ListNetworks({})->items.size(), 2u);
  // The counter continues where it stopped.
  EXPECT_EQ(store->CreateRouter({"r2", "r2", "proj-a", 0, ""})->revision, revision + 1);
  ExpectConsistent(*store, path_);
  auto db = RawConnection(path_);
  EXPECT_EQ(db->QueryText("PRAGMA user_version").value_or(""),
            std::to_string(sqlite::LatestSchemaVersion()));
  EXPECT_EQ(db->QueryText("PRAGMA journal_mode").value_or(""), "wal");
}

// A file written before routers and networks had a host (schema 2) opens migrated: its rows
// keep everything and are unassigned.
TEST_F(SqliteStoreTest, FileFromBeforeHostsIsMigrated) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateRouter({"r1", "router one", "proj-a", 0, ""}));
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", "r1", 0, ""}));
  }
  auto db = RawConnection(path_);
  ASSERT_TRUE(
      db->Exec("ALTER TABLE routers DROP COLUMN host; ALTER TABLE networks DROP COLUMN host; "
               "ALTER TABLE networks DROP COLUMN http_tokens; PRAGMA user_version = 2"));
  db.reset();
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->GetRouter("r1")->name, "router one");
  EXPECT_EQ(store->GetRouter("r1")->host, "");
  EXPECT_EQ(store->GetNetwork("net-a")->router_id, "r1");
  ASSERT_TRUE(store->SetRouterHost("r1", "node-1"));
  EXPECT_EQ(store->GetRouter("r1")->host, "node-1");
  EXPECT_EQ(RawConnection(path_)->QueryText("PRAGMA user_version").value_or(""),
            std::to_string(sqlite::LatestSchemaVersion()));
}

// A file from before link-local look-ups (schema 3: MACs as written, no (network_id, mac)
// index) opens migrated: its ports are found by the MAC a link-local address names.
TEST_F(SqliteStoreTest, FileFromBeforeMacLookupsIsMigrated) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
    ASSERT_TRUE(store->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  }
  ASSERT_TRUE(RawConnection(path_)->Exec(
      "DROP INDEX ports_network_mac; UPDATE ports SET mac = upper(mac); "
      "ALTER TABLE networks DROP COLUMN http_tokens; PRAGMA user_version = 3"));
  auto store = Open();
  ASSERT_TRUE(store);
  auto port = store->FindPortOnNetwork("net-a", "fe80::f816:3eff:fe00:1");
  ASSERT_TRUE(port) << port.error().ToString();
  EXPECT_EQ(port->instance_id, kU1);
  EXPECT_EQ(port->mac, "fa:16:3e:00:00:01");
  auto db = RawConnection(path_);
  EXPECT_EQ(db->QueryText("SELECT count(*) FROM sqlite_master WHERE name = 'ports_network_mac'")
                .value_or(""),
            "1");
  EXPECT_EQ(db->QueryText("PRAGMA user_version").value_or(""),
            std::to_string(sqlite::LatestSchemaVersion()));
}

// A file from before session policies (schema 4) opens migrated: its networks have none, and
// one can be set.
TEST_F(SqliteStoreTest, FileFromBeforeHttpTokensIsMigrated) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, "node-1"}));
  }
  ASSERT_TRUE(RawConnection(path_)->Exec(
      "ALTER TABLE networks DROP COLUMN http_tokens; PRAGMA user_version = 4"));
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->GetNetwork("net-a")->host, "node-1");
  EXPECT_EQ(store->GetNetwork("net-a")->http_tokens, std::nullopt);
  ASSERT_TRUE(store->SetNetworkHttpTokens("net-a", core::HttpTokens::kRequired));
  EXPECT_EQ(store->GetNetwork("net-a")->http_tokens, core::HttpTokens::kRequired);
  EXPECT_EQ(RawConnection(path_)->QueryText("PRAGMA user_version").value_or(""), "5");
}

TEST_F(SqliteStoreTest, SchemaNewerThanTheBinaryIsRefused) {
  ASSERT_TRUE(Open());
  ASSERT_TRUE(RawConnection(path_)->Exec("PRAGMA user_version = 99"));
  std::string expected = "sqlite:" + path_ +
                         ": schema version 99 is newer than this metastack supports (" +
                         std::to_string(sqlite::LatestSchemaVersion()) + ")";
  auto direct = OpenSqliteStore(path_);
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(direct.error().ToString(), expected);
  auto by_url = OpenStore("sqlite:" + path_);
  ASSERT_FALSE(by_url);
  EXPECT_EQ(by_url.error().ToString(), expected);
  EXPECT_EQ(RawConnection(path_)->QueryText("PRAGMA user_version").value_or(""), "99");
}

TEST_F(SqliteStoreTest, OpenErrorsNameThePathAndTheCause) {
  std::string garbage = dir_.path() + "/garbage.db";
  std::ofstream(garbage) << std::string(8192, 'x');
  std::string not_a_dir = garbage + "/x.db";
  std::string missing_dir = dir_.path() + "/missing/x.db";
  struct Case {
    std::string url;
    ErrorCode code;
    std::string message;
  };
  const Case cases[] = {
      {"sqlite:" + garbage, ErrorCode::kInternal, "sqlite:" + garbage + ": file is not a database"},
      {"sqlite:" + missing_dir, ErrorCode::kNotFound,
       "sqlite:" + missing_dir + ": the directory " + dir_.path() +
           "/missing does not exist (create it first; only the default store's directory is "
           "created for you)"},
      {"sqlite:" + not_a_dir, ErrorCode::kUnavailable,
       "sqlite:" + not_a_dir + ": unable to open database file (Not a directory)"},
      {"sqlite:", ErrorCode::kInvalidArgument, "sqlite: a database path is required (sqlite:PATH)"},
  };
  for (const auto& c : cases) {
    auto store = OpenStore(c.url);
    ASSERT_FALSE(store) << c.url;
    EXPECT_EQ(store.error().code, c.code) << c.url;
    EXPECT_EQ(store.error().ToString(), c.message);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/missing"));
}

TEST_F(SqliteStoreTest, ReadersDoNotWaitForAnotherProcesssWriter) {
  SqliteOptions options;
  options.busy_timeout = 100ms;
  auto store = Open(options);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  // Another connection holds the write lock with an uncommitted write.
  auto other = RawConnection(path_);
  ASSERT_TRUE(other->BeginImmediate());
  ASSERT_TRUE(
      other->Exec("INSERT INTO routers (id, name, project_id, revision) "
                  "VALUES ('r-uncommitted', '', '', 0)"));
  EXPECT_EQ(store->GetInstance(kU1)->instance.uuid, kU1);
  EXPECT_EQ(store->FindPortOnNetwork("net-a", "10.0.0.5")->instance_id, kU1);
  EXPECT_EQ(store->GetRouter("r-uncommitted").error().code, ErrorCode::kNotFound);
  auto blocked = store->CreateRouter({"r1", "r1", "proj-a", 0, ""});
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(blocked.error().message, "sqlite:" + path_ + ": database is locked");
  other->Rollback();
  EXPECT_TRUE(store->CreateRouter({"r1", "r1", "proj-a", 0, ""}));
  EXPECT_EQ(store->GetRouter("r-uncommitted").error().code, ErrorCode::kNotFound);
}

TEST_F(SqliteStoreTest, LookupsSearchIndexesNeverScan) {
  ASSERT_TRUE(Open());
  auto db = RawConnection(path_);
  for (const char* sql : {sqlite::kFindPortOnNetworkSql, sqlite::kFindPortOnRouterSql,
                          sqlite::kFindPortByMacOnNetworkSql, sqlite::kFindPortByMacOnRouterSql,
                          sqlite::kGetInstanceSql}) {
    auto plan = db->Prepare(std::string("EXPLAIN QUERY PLAN ") + sql);
    ASSERT_TRUE(plan) << plan.error().ToString();
    int steps = 0;
    while (*plan->Step()) {
      std::string detail = plan->Text(3);
      ++steps;
      EXPECT_TRUE(detail.starts_with("SEARCH")) << sql << "\n  plan: " << detail;
    }
    EXPECT_GT(steps, 0) << sql;
  }
}

TEST_F(SqliteStoreTest, ChangesAreAnnouncedInRevisionOrderUnderConcurrentWriters) {
  auto store = Open();
  ASSERT_TRUE(store);
  std::mutex mu;
  std::vector<int64_t> revisions;
  auto sub = store->Subscribe([&](const Change& c) {
    std::lock_guard lock(mu);
    revisions.push_back(c.revision);
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i)
        EXPECT_TRUE(store->CreateRouter(
            {"r" + std::to_string(t) + "-" + std::to_string(i), "", "p", 0, ""}));
    });
  for (auto& w : writers) w.join();
  std::lock_guard lock(mu);
  ASSERT_EQ(revisions.size(), 100u);
  for (size_t i = 0; i < revisions.size(); ++i) EXPECT_EQ(revisions[i], int64_t(i + 1));
}

TEST_F(SqliteStoreTest, BulkCreateIsAllOrNothing) {
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  std::vector<core::Instance> batch = {InstanceWithPort(Uuid(1), "net-a", "10.0.0.1"),
                                       InstanceWithPort(Uuid(2), "net-a", "10.0.0.2"),
                                       InstanceWithPort(Uuid(3), "net-a", "10.0.0.1")};
  auto rejected = BulkCreateInstancesForTesting(*store, batch);
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().message,
            "IP 10.0.0.1 on network net-a belongs to instance " + Uuid(1));
  EXPECT_EQ(*store->CurrentRevision(), 1);
  EXPECT_TRUE(store->ListPorts("", {})->items.empty());
  batch.pop_back();
  ASSERT_TRUE(BulkCreateInstancesForTesting(*store, batch));
  EXPECT_EQ(store->GetInstance(Uuid(2))->revision, 3);
  ExpectConsistent(*store, path_);
  auto memory = NewMemoryStore();
  EXPECT_EQ(BulkCreateInstancesForTesting(*memory, batch).error().code,
            ErrorCode::kInvalidArgument);
}

// What a caller can observe of a result: the error verbatim, or the value's salient fields.
std::string Outcome(const Status& r) { return r ? "ok" : "error " + r.error().ToString(); }
template <typename T, typename Show>
std::string Outcome(const Result<T>& r, Show show) {
  if (!r) return "error " + std::string(ErrorCodeName(r.error().code)) + " " + r.error().ToString();
  return show(*r);
}
std::string Show(const InstanceRecord& r) {
  return std::to_string(r.revision) + " " + core::DumpPython(core::InstanceToJson(r.instance));
}
std::string Show(const Network& n) {
  return n.id + "/" + n.router_id.value_or("-") + "/" + std::to_string(n.revision);
}
std::string Show(const PortBinding& b) {
  return b.network_id + "/" + b.ip_address + "/" + b.port_id + "/" + b.instance_id + "/" +
         b.project_id;
}

// A seeded random walk of writes and lookups over a small universe of ids, so that conflicts,
// unknown references and ambiguous lookups are frequent, applied to the memory store and to
// SQLite in lockstep: every outcome, error text included, must be identical.
TEST_F(SqliteStoreTest, RandomWalkMatchesTheMemoryStore) {
  auto sqlite = Open();
  ASSERT_TRUE(sqlite);
  auto memory = NewMemoryStore();
  std::mt19937 rng(20240601);
  auto pick = [&](std::initializer_list<const char*> options) {
    return std::string(options.begin()[rng() % options.size()]);
  };
  auto instance = [&] {
    std::string uuid = Uuid(1 + rng() % 4);
    core::Instance inst =
        InstanceWithPort(uuid, pick({"net-a", "net-b", "net-c"}),
                         pick({"10.0.0.1", "10.0.0.2", "10.0.0.3"}), pick({"proj-a", "proj-b"}));
    if (rng() % 4 == 0) inst.ports[0].router_id = pick({"r1", "r2"});
    if (rng() % 6 == 0) inst.ports[0].subnets[0].ip_address.reset();
    if (rng() % 4 == 0) {
      core::Port second = inst.ports[0];
      second.id = "port2-" + uuid;
      second.network_id = pick({"net-a", "net-b", "net-c"});
      second.subnets[0].ip_address = pick({"10.0.0.1", "10.0.0.4"});
      inst.ports.push_back(second);
    }
    return inst;
  };
  using Step = std::function<std::string(Store&)>;
  for (int i = 0; i < 3000; ++i) {
    std::string uuid = Uuid(1 + rng() % 4);
    std::string net = pick({"net-a", "net-b", "net-c"});
    std::string router = pick({"r1", "r2", ""});
    std::string ip = pick({"10.0.0.1", "10.0.0.2", "::ffff:10.0.0.3", "bogus"});
    core::Instance inst = instance();
    std::optional<int64_t> expected;
    if (rng() % 2) expected = static_cast<int64_t>(rng() % (i + 2));
    ListOptions list;
    list.limit = 1 + rng() % 3;
    list.after = rng() % 2 ? "" : uuid;
    list.project_id = pick({"", "proj-a"});
    const Step steps[] = {
        [&](Store& s) { return Outcome(s.CreateInstance(inst), [](auto& r) { return Show(r); }); },
        [&](Store& s) {
          return Outcome(s.ReplaceInstance(inst, expected), [](auto& r) { return Show(r); });
        },
        [&](Store& s) { return Outcome(s.DeleteInstance(uuid)); },
        [&](Store& s) {
          return Outcome(s.SetPassword(uuid, "pw"), [](auto& r) { return Show(r); });
        },
        [&](Store& s) { return Outcome(s.ResetPassword(uuid), [](auto& r) { return Show(r); }); },
        [&](Store& s) {
          std::optional<std::string> attach;
          if (!router.empty()) attach = router;
          return Outcome(s.CreateNetwork({net, "n", "proj-a", attach, 0, ""}),
                         [](auto& n) { return Show(n); });
        },
        [&](Store& s) { return Outcome(s.DeleteNetwork(net)); },
        [&](Store& s) {
          return Outcome(s.CreateRouter({router, "r", "proj-a", 0, ""}),
                         [](auto& r) { return r.id + "/" + std::to_string(r.revision); });
        },
        [&](Store& s) { return Outcome(s.DeleteRouter(router)); },
        [&](Store& s) {
          return Outcome(s.SetNetworkRouter(net, router), [](auto& n) { return Show(n); });
        },
        [&](Store& s) {
          return Outcome(s.FindPortOnNetwork(net, ip), [](auto& b) { return Show(b); });
        },
        [&](Store& s) {
          return Outcome(s.FindPortOnRouter(router, ip), [](auto& b) { return Show(b); });
        },
        [&](Store& s) {
          return Outcome(s.ListPorts(rng() % 2 ? net : "", {}), [](const auto& ports) {
            std::string out;
            for (const auto& b : ports.items) out += Show(b) + " ";
            return out;
          });
        },
        [&](Store& s) {
          return Outcome(s.ListInstances(list), [](const auto& page) {
            std::string out;
            for (const auto& r : page.items) out += Show(r) + " ";
            return out + "next=" + page.next;
          });
        },
        [&](Store& s) {
          return Outcome(s.CurrentRevision(), [](int64_t r) { return std::to_string(r); });
        },
    };
    // Both stores must take the same branch: draw the step (and any randomness it uses) once.
    size_t which = rng() % std::size(steps);
    uint32_t state = rng();
    rng.seed(state);
    std::string want = steps[which](*memory);
    rng.seed(state);
    std::string got = steps[which](*sqlite);
    ASSERT_EQ(got, want) << "step " << i << " (operation " << which << ")";
  }
  ExpectConsistent(*sqlite, path_);
}

// A child process creates instances and reports each uuid through a pipe once CreateInstance
// has returned; the parent kills it with SIGKILL mid-stream. Every reported write must be in the
// file, and the file must be sound with the port index matching the documents.
TEST_F(SqliteStoreTest, CommittedWritesSurviveKill9OfTheWriter) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  }  // closed before fork: the child must not inherit a live connection
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto report = [&](const std::string& line) {
      (void)!write(fds[1], line.data(), line.size());  // < PIPE_BUF: one atomic write
    };
    auto store = OpenSqliteStore(path_);
    if (!store) {
      report("error " + store.error().ToString() + "\n");
      _exit(2);
    }
    for (int i = 1; i < 1'000'000; ++i) {
      auto created = (*store)->CreateInstance(InstanceWithPort(Uuid(i), "net-a", Ip(i)));
      if (!created) {
        report("error " + created.error().ToString() + "\n");
        _exit(3);
      }
      report(Uuid(i) + "\n");
    }
    _exit(0);
  }
  close(fds[1]);
  constexpr size_t kKillAfter = 200;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<std::string> reported;
  std::string pending;
  bool killed = false;
  while (true) {
    if (!killed && (reported.size() >= kKillAfter || std::chrono::steady_clock::now() > deadline)) {
      kill(child, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child is gone
    pending.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      std::string line = pending.substr(0, nl);
      ASSERT_FALSE(line.starts_with("error")) << line;
      reported.push_back(line);
    }
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  ASSERT_GE(reported.size(), kKillAfter);

  auto store = Open();
  ASSERT_TRUE(store);
  for (const auto& uuid : reported) {
    auto got = store->GetInstance(uuid);
    EXPECT_TRUE(got) << uuid << ": " << got.error().ToString();
  }
  // At most one write committed without being reported (killed between commit and report).
  ListOptions all;
  all.limit = 1000;
  size_t stored = 0;
  for (auto page = store->ListInstances(all); page; page = store->ListInstances(all)) {
    stored += page->items.size();
    if (page->next.empty()) break;
    all.after = page->next;
  }
  EXPECT_GE(stored, reported.size());
  EXPECT_LE(stored, reported.size() + 1);
  EXPECT_EQ(*store->CurrentRevision(), int64_t(stored + 1));
  ExpectConsistent(*store, path_);
  // And it is still writable.
  auto after =
      store->CreateInstance(InstanceWithPort(Uuid(999'999'999), "net-a", "10.255.255.254"));
  EXPECT_TRUE(after) << after.error().ToString();
}

}  // namespace
}  // namespace metastack::store::testing
