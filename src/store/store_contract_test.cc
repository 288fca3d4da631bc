#include "store/store_contract_test.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "store/memory_store.h"

namespace metastack::store::testing {

std::string Uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

namespace {

TEST_P(StoreContractTest, CreateGetDeleteInstance) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  auto created = store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5"));
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_GT(created->revision, 0);
  auto got = store_->GetInstance(kU1);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->instance.uuid, kU1);
  EXPECT_EQ(got->revision, created->revision);
  EXPECT_EQ(core::DumpPython(core::InstanceToJson(got->instance)),
            core::DumpPython(core::InstanceToJson(InstanceWithPort(kU1, "net-a", "10.0.0.5"))));
  ASSERT_TRUE(store_->DeleteInstance(kU1));
  EXPECT_EQ(store_->GetInstance(kU1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteInstance(kU1).error().code, ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, DocumentSurvivesExactly) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  core::Instance inst = InstanceWithPort(kU1, "net-a", "10.0.0.5");
  inst.user_data = std::string("\x1f\x8b\x00\xff binary", 11);
  inst.meta = {{"z", "1"}, {"a", "\u00e9\U0001F680"}};
  inst.files = {{"/etc/x", std::string("\0\1", 2)}};
  inst.vendor_data = core::Json{{"b", 1.5}, {"a", {1, 2}}};
  inst.config_drive = true;  // kept in the document: no column of its own
  ASSERT_TRUE(store_->CreateInstance(inst));
  auto got = store_->GetInstance(kU1);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got->instance.user_data, *inst.user_data);
  EXPECT_EQ(got->instance.meta, inst.meta);
  EXPECT_EQ(got->instance.files[0].contents, inst.files[0].contents);
  EXPECT_EQ(core::DumpPython(*got->instance.vendor_data), R"({"b": 1.5, "a": [1, 2]})");
  EXPECT_TRUE(got->instance.config_drive);
}

TEST_P(StoreContractTest, Conflicts) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  auto dup = store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.6"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_EQ(dup.error().message, std::string("instance ") + kU1 + " exists");
  auto ip = store_->CreateInstance(InstanceWithPort(kU2, "net-a", "10.0.0.5"));
  ASSERT_FALSE(ip);
  EXPECT_EQ(ip.error().code, ErrorCode::kConflict);
  EXPECT_EQ(ip.error().message,
            std::string("IP 10.0.0.5 on network net-a belongs to instance ") + kU1);
  auto unknown = store_->CreateInstance(InstanceWithPort(kU2, "net-zz", "10.0.0.9"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(unknown.error().ToString(), "ports[0].network_id: unknown network net-zz");
  // Nothing of the rejected writes is visible.
  EXPECT_EQ(store_->GetInstance(kU2).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->FindPortOnNetwork("net-a", "10.0.0.5")->instance_id, kU1);
  EXPECT_EQ(store_->CreateNetwork({"net-a", "again", "p", std::nullopt, 0, ""}).error().code,
            ErrorCode::kConflict);
}

TEST_P(StoreContractTest, SameIpOnDifferentNetworks) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-b", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5", "proj-a")));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU2, "net-b", "10.0.0.5", "proj-b")));
  auto a = store_->FindPortOnNetwork("net-a", "10.0.0.5");
  auto b = store_->FindPortOnNetwork("net-b", "::ffff:10.0.0.5");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->instance_id, kU1);
  EXPECT_EQ(a->project_id, "proj-a");
  EXPECT_EQ(a->port_id, std::string("port-") + kU1);
  EXPECT_EQ(b->instance_id, kU2);
  EXPECT_EQ(b->project_id, "proj-b");
  EXPECT_EQ(store_->FindPortOnNetwork("net-a", "10.0.0.6").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->FindPortOnNetwork("net-a", "bogus").error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreContractTest, RouterLookup) {
  ASSERT_TRUE(store_->CreateRouter({"r1", "r1", "proj-a", 0, ""}));
  ASSERT_TRUE(store_->CreateRouter({"r2", "r2", "proj-b", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", "r1", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-b", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->SetNetworkRouter("net-b", "r2"));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5", "proj-a")));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU2, "net-b", "10.0.0.5", "proj-b")));
  EXPECT_EQ(store_->FindPortOnRouter("r1", "10.0.0.5")->instance_id, kU1);
  EXPECT_EQ(store_->FindPortOnRouter("r2", "10.0.0.5")->instance_id, kU2);
  EXPECT_EQ(store_->FindPortOnRouter("r3", "10.0.0.5").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->FindPortOnRouter("r1", "10.0.0.6").error().code, ErrorCode::kNotFound);
  // A second network on r1 with the same IP makes the lookup ambiguous.
  ASSERT_TRUE(store_->CreateNetwork({"net-c", "c", "proj-a", "r1", 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU3, "net-c", "10.0.0.5", "proj-a")));
  EXPECT_EQ(store_->FindPortOnRouter("r1", "10.0.0.5").error().code, ErrorCode::kConflict);
  // Detaching net-c resolves it.
  ASSERT_TRUE(store_->SetNetworkRouter("net-c", ""));
  EXPECT_EQ(store_->FindPortOnRouter("r1", "10.0.0.5")->instance_id, kU1);
  EXPECT_EQ(store_->DeleteRouter("r1").error().code, ErrorCode::kConflict);
  EXPECT_EQ(store_->SetNetworkRouter("net-a", "nope").error().code, ErrorCode::kNotFound);
}

TEST_P(StoreContractTest, PortRouterMustMatchTheNetwork) {
  ASSERT_TRUE(store_->CreateRouter({"r1", "r1", "proj-a", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  core::Instance inst = InstanceWithPort(kU1, "net-a", "10.0.0.5");
  inst.ports[0].router_id = "r1";
  auto r = store_->CreateInstance(inst);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().ToString(), "ports[0].router_id: network net-a is not attached to a router");
  ASSERT_TRUE(store_->SetNetworkRouter("net-a", "r1"));
  ASSERT_TRUE(store_->CreateInstance(inst));
}

TEST_P(StoreContractTest, ReplaceWithRevision) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  auto v1 = store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5"));
  ASSERT_TRUE(v1);
  core::Instance edited = v1->instance;
  edited.hostname = "renamed";
  edited.ports[0].subnets[0].ip_address = "10.0.0.7";
  auto v2 = store_->ReplaceInstance(edited, v1->revision);
  ASSERT_TRUE(v2) << v2.error().ToString();
  EXPECT_GT(v2->revision, v1->revision);
  auto stale = store_->ReplaceInstance(edited, v1->revision);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kAborted);
  EXPECT_EQ(stale.error().ToString(), StaleRevision(kU1, v2->revision, v1->revision).ToString());
  EXPECT_EQ(store_->GetInstance(kU1)->instance.hostname, "renamed");
  // The port index follows the document.
  EXPECT_EQ(store_->FindPortOnNetwork("net-a", "10.0.0.5").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->FindPortOnNetwork("net-a", "10.0.0.7")->instance_id, kU1);
  EXPECT_EQ(store_->ReplaceInstance(InstanceWithPort(kU2, "net-a", "10.0.0.8"), std::nullopt)
                .error()
                .code,
            ErrorCode::kNotFound);
  // Deleting frees the IP for another instance.
  ASSERT_TRUE(store_->DeleteInstance(kU1));
  EXPECT_TRUE(store_->CreateInstance(InstanceWithPort(kU2, "net-a", "10.0.0.7")));
}

TEST_P(StoreContractTest, PasswordIsWriteOnce) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  auto set = store_->SetPassword(kU1, "enc-1");
  ASSERT_TRUE(set);
  EXPECT_EQ(*set->instance.password, "enc-1");
  auto again = store_->SetPassword(kU1, "enc-2");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(*store_->GetInstance(kU1)->instance.password, "enc-1");
  EXPECT_EQ(store_->SetPassword(kU1, std::string(1021, 'x')).error().ToString(),
            "password: longer than 1020 bytes");
  ASSERT_TRUE(store_->ResetPassword(kU1));
  EXPECT_FALSE(store_->GetInstance(kU1)->instance.password);
  EXPECT_TRUE(store_->SetPassword(kU1, std::string(1020, 'y')));
  EXPECT_EQ(store_->SetPassword(kU2, "x").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->SetPassword(kU1, "z").error().ToString(),
            "instance " + std::string(kU1) + " already has a password");
  EXPECT_EQ(store_->SetPassword(kU1, std::string(1021, 'x')).error().ToString(),
            "password: longer than 1020 bytes");  // the size is checked first
}

// An empty password is none: the guest may still post one.
TEST_P(StoreContractTest, EmptyPasswordIsNone) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  ASSERT_TRUE(store_->SetPassword(kU1, ""));
  EXPECT_TRUE(PasswordWritable(store_->GetInstance(kU1)->instance));
  auto set = store_->SetPassword(kU1, "enc-1");
  ASSERT_TRUE(set);
  auto refused = PasswordWritable(set->instance);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
}

TEST_P(StoreContractTest, ConcurrentPasswordPostsOneWins) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  std::atomic<int> ok{0}, conflict{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto r = store_->SetPassword(kU1, "p" + std::to_string(t));
      (r ? ok : conflict)++;
      if (!r) {
        EXPECT_EQ(r.error().code, ErrorCode::kConflict);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflict.load(), 7);
}

TEST_P(StoreContractTest, ConcurrentEditsLoseNothing) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  constexpr int kThreads = 4, kEdits = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEdits; ++i) {
        while (true) {  // read, edit, replace; retry when another writer won (kAborted)
          auto cur = store_->GetInstance(kU1);
          ASSERT_TRUE(cur);
          core::Instance inst = cur->instance;
          inst.meta.emplace_back("t" + std::to_string(t) + "-" + std::to_string(i), "v");
          auto r = store_->ReplaceInstance(inst, cur->revision);
          if (r) break;
          ASSERT_EQ(r.error().code, ErrorCode::kAborted) << r.error().ToString();
        }
      }
    });
  std::thread reader([&] {
    for (int i = 0; i < 50; ++i) EXPECT_TRUE(store_->FindPortOnNetwork("net-a", "10.0.0.5"));
  });
  for (auto& th : threads) th.join();
  reader.join();
  EXPECT_EQ(store_->GetInstance(kU1)->instance.meta.size(), size_t{kThreads * kEdits});
}

TEST_P(StoreContractTest, ListPagination) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  for (int i = 1; i <= 7; ++i)
    ASSERT_TRUE(store_->CreateInstance(
        InstanceWithPort(Uuid(i), "net-a", "10.0.0." + std::to_string(i), i % 2 ? "odd" : "even")));
  std::vector<std::string> seen;
  ListOptions opts;
  opts.limit = 3;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->ListInstances(opts);
    ASSERT_TRUE(page);
    EXPECT_LE(page->items.size(), 3u);
    for (const auto& r : page->items) seen.push_back(r.instance.uuid);
    if (page->next.empty()) break;
    opts.after = page->next;
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  ListOptions odd;
  odd.project_id = "odd";
  EXPECT_EQ(store_->ListInstances(odd)->items.size(), 4u);
  EXPECT_EQ(store_->ListNetworks({})->items.size(), 1u);
}

// Ports page by (network, IP) with "NETWORK IP" keys, filtered by network and project.
TEST_P(StoreContractTest, PortPagination) {
  for (const char* net : {"net-a", "net-b"})
    ASSERT_TRUE(store_->CreateNetwork({net, net, "proj-a", std::nullopt, 0, ""}));
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(Uuid(i), i <= 3 ? "net-b" : "net-a",
                                                        "10.0.0." + std::to_string(i),
                                                        i % 2 ? "odd" : "even")));
  auto keys = [&](std::string_view network, ListOptions opts) {
    std::vector<std::string> seen, nexts;
    for (int pages = 0; pages < 10; ++pages) {
      auto page = store_->ListPorts(network, opts);
      EXPECT_TRUE(page) << page.error().ToString();
      if (!page) break;
      EXPECT_LE(page->items.size(), opts.limit);
      for (const auto& b : page->items) seen.push_back(PortKey(b));
      if (page->next.empty()) break;
      EXPECT_EQ(page->next, seen.back());
      nexts.push_back(page->next);
      opts.after = page->next;
    }
    return std::pair(seen, nexts);
  };
  ListOptions two;
  two.limit = 2;
  auto [all, nexts] = keys("", two);
  EXPECT_EQ(all, (std::vector<std::string>{"net-a 10.0.0.4", "net-a 10.0.0.5", "net-b 10.0.0.1",
                                           "net-b 10.0.0.2", "net-b 10.0.0.3"}));
  EXPECT_EQ(nexts, (std::vector<std::string>{"net-a 10.0.0.5", "net-b 10.0.0.2"}));
  EXPECT_EQ(keys("net-b", two).first,
            (std::vector<std::string>{"net-b 10.0.0.1", "net-b 10.0.0.2", "net-b 10.0.0.3"}));
  ListOptions odd;
  odd.project_id = "odd";
  EXPECT_EQ(keys("", odd).first,
            (std::vector<std::string>{"net-a 10.0.0.5", "net-b 10.0.0.1", "net-b 10.0.0.3"}));
  odd.after = "net-a 10.0.0.5";
  EXPECT_EQ(keys("", odd).first, (std::vector<std::string>{"net-b 10.0.0.1", "net-b 10.0.0.3"}));
  odd.after = "net-b";  // a network alone sorts before its bindings
  EXPECT_EQ(keys("", odd).first, (std::vector<std::string>{"net-b 10.0.0.1", "net-b 10.0.0.3"}));
  ListOptions exact;
  exact.limit = 5;  // a page that ends at the last binding is the last page
  auto page = store_->ListPorts("", exact);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->next, "");
  EXPECT_TRUE(store_->ListPorts("net-zz", {})->items.empty());
}

TEST_P(StoreContractTest, DeleteNetworkInUse) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  ASSERT_TRUE(store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5")));
  auto r = store_->DeleteNetwork("net-a");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store_->DeleteInstance(kU1));
  EXPECT_TRUE(store_->DeleteNetwork("net-a"));
  EXPECT_EQ(store_->GetNetwork("net-a").error().code, ErrorCode::kNotFound);
}

// Records what a store's feed announces, so that a test waits on the announcement itself:
// delivery may be asynchronous (PostgreSQL's LISTEN/NOTIFY, SQLite's feed watcher).
class Announcements {
 public:
  explicit Announcements(Store& store)
      : subscription_(store.Subscribe([this](const Change& c) {
          std::lock_guard lock(mu_);
          changes_.push_back(c);
          arrived_.notify_all();
        })) {}

  // What was announced, once `done` holds for it (or whatever arrived within 5 s).
  std::vector<Change> Await(const std::function<bool(const std::vector<Change>&)>& done) {
    std::unique_lock lock(mu_);
    arrived_.wait_for(lock, std::chrono::seconds(5), [&] { return done(changes_); });
    return changes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<Change> changes_;
  std::unique_ptr<Subscription> subscription_;  // last: unsubscribes before the rest goes
};

TEST_P(StoreContractTest, ChangeFeed) {
  Announcements feed(*store_);
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  auto created = store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5"));
  ASSERT_TRUE(created);
  ASSERT_TRUE(store_->SetPassword(kU1, "x"));
  ASSERT_TRUE(store_->DeleteInstance(kU1));
  auto rev = store_->CurrentRevision();
  ASSERT_TRUE(rev);
  std::vector<Change> changes = feed.Await(
      [&](const std::vector<Change>& c) { return !c.empty() && c.back().revision == *rev; });
  ASSERT_EQ(changes.size(), 4u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kNetwork);
  EXPECT_EQ(changes[1].kind, Change::Kind::kInstance);
  EXPECT_EQ(changes[1].id, kU1);
  EXPECT_EQ(changes[1].revision, created->revision);
  EXPECT_FALSE(changes[2].deleted);
  EXPECT_TRUE(changes[3].deleted);
  for (size_t i = 1; i < changes.size(); ++i)
    EXPECT_GT(changes[i].revision, changes[i - 1].revision);
}

// A router's and a network's host: kept from creation, listed, changed and cleared, each change
// a new revision announced on the feed; nothing else about them changes.
TEST_P(StoreContractTest, HostOfRoutersAndNetworks) {
  ASSERT_TRUE(store_->CreateRouter({"r1", "r1", "proj-a", 0, "node-1"}));
  ASSERT_TRUE(store_->CreateRouter({"r2", "r2", "proj-a", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", "r1", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-a", std::nullopt, 0, "node-2"}));
  EXPECT_EQ(store_->GetRouter("r1")->host, "node-1");
  EXPECT_EQ(store_->GetRouter("r2")->host, "");
  EXPECT_EQ(store_->GetNetwork("net-a")->host, "");
  EXPECT_EQ(store_->GetNetwork("net-b")->host, "node-2");
  auto routers = store_->ListRouters({10, "", ""});
  ASSERT_TRUE(routers);
  ASSERT_EQ(routers->items.size(), 2u);
  EXPECT_EQ(routers->items[0].host, "node-1");
  auto networks = store_->ListNetworks({10, "", ""});
  ASSERT_TRUE(networks);
  ASSERT_EQ(networks->items.size(), 2u);
  EXPECT_EQ(networks->items[1].host, "node-2");

  Announcements feed(*store_);
  auto before = store_->GetRouter("r2");
  auto moved = store_->SetRouterHost("r2", "node-3");
  ASSERT_TRUE(moved) << moved.error().ToString();
  EXPECT_EQ(moved->host, "node-3");
  EXPECT_GT(moved->revision, before->revision);
  EXPECT_EQ(moved->name, "r2");
  EXPECT_EQ(store_->GetRouter("r2")->host, "node-3");
  auto cleared = store_->SetNetworkHost("net-b", "");
  ASSERT_TRUE(cleared) << cleared.error().ToString();
  EXPECT_EQ(cleared->host, "");
  auto attached = store_->SetNetworkHost("net-a", "node-1");
  ASSERT_TRUE(attached);
  EXPECT_EQ(attached->router_id, "r1");
  EXPECT_EQ(store_->GetNetwork("net-a")->router_id, "r1");
  EXPECT_EQ(store_->GetNetwork("net-a")->host, "node-1");
  EXPECT_EQ(store_->GetNetwork("net-b")->host, "");
  std::vector<Change> changes = feed.Await([&](const std::vector<Change>& c) {
    return !c.empty() && c.back().revision == attached->revision;
  });
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kRouter);
  EXPECT_EQ(changes[0].id, "r2");
  EXPECT_EQ(changes[0].revision, moved->revision);
  EXPECT_EQ(changes[1].kind, Change::Kind::kNetwork);
  EXPECT_EQ(changes[1].id, "net-b");
  EXPECT_FALSE(changes[2].deleted);
  // Attaching to a router keeps the host.
  ASSERT_TRUE(store_->SetNetworkRouter("net-b", "r2"));
  EXPECT_EQ(store_->GetNetwork("net-a")->host, "node-1");
}

// A network's session policy: unset by default, set at creation or later, unset again; every
// write announced; kept by the other network writes.
TEST_P(StoreContractTest, HttpTokensOfNetworks) {
  Network required{"net-r", "r", "proj-a", std::nullopt, 0, ""};
  required.http_tokens = core::HttpTokens::kRequired;
  ASSERT_TRUE(store_->CreateNetwork(required));
  ASSERT_TRUE(store_->CreateNetwork({"net-u", "u", "proj-a", std::nullopt, 0, ""}));
  EXPECT_EQ(store_->GetNetwork("net-r")->http_tokens, core::HttpTokens::kRequired);
  EXPECT_EQ(store_->GetNetwork("net-u")->http_tokens, std::nullopt);

  Announcements feed(*store_);
  auto before = store_->GetNetwork("net-u");
  auto set = store_->SetNetworkHttpTokens("net-u", core::HttpTokens::kOptional);
  ASSERT_TRUE(set) << set.error().ToString();
  EXPECT_EQ(set->http_tokens, core::HttpTokens::kOptional);
  EXPECT_GT(set->revision, before->revision);
  EXPECT_EQ(set->name, "u");
  auto listed = store_->ListNetworks({10, "", ""});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->items.size(), 2u);
  EXPECT_EQ(listed->items[0].http_tokens, core::HttpTokens::kRequired);
  EXPECT_EQ(listed->items[1].http_tokens, core::HttpTokens::kOptional);
  ASSERT_TRUE(store_->SetNetworkHost("net-r", "node-1"));
  EXPECT_EQ(store_->GetNetwork("net-r")->http_tokens, core::HttpTokens::kRequired);
  auto unset = store_->SetNetworkHttpTokens("net-r", std::nullopt);
  ASSERT_TRUE(unset);
  EXPECT_EQ(unset->http_tokens, std::nullopt);
  EXPECT_EQ(unset->host, "node-1");
  EXPECT_EQ(store_->GetNetwork("net-r")->http_tokens, std::nullopt);
  std::vector<Change> changes = feed.Await([&](const std::vector<Change>& c) {
    return !c.empty() && c.back().revision == unset->revision;
  });
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kNetwork);
  EXPECT_EQ(changes[0].id, "net-u");
  EXPECT_EQ(changes[2].id, "net-r");
  auto unknown = store_->SetNetworkHttpTokens("net-z", core::HttpTokens::kRequired);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

// Everything a reader can observe, as one string: documents with revisions, networks, routers,
// the port index and the revision counter.
std::string Snapshot(Store& store) {
  std::string out;
  auto instances = store.ListInstances({1000, "", ""});
  if (!instances) return "error: " + instances.error().ToString();
  for (const auto& r : instances->items)
    out += "instance @" + std::to_string(r.revision) + " " +
           core::DumpPython(core::InstanceToJson(r.instance)) + "\n";
  auto networks = store.ListNetworks({1000, "", ""});
  if (!networks) return "error: " + networks.error().ToString();
  for (const auto& n : networks->items)
    out += "network @" + std::to_string(n.revision) + " " + n.id + " " + n.router_id.value_or("-") +
           " host=" + n.host + " http_tokens=" +
           std::string(n.http_tokens ? core::HttpTokensName(*n.http_tokens) : "-") + "\n";
  auto routers = store.ListRouters({1000, "", ""});
  if (!routers) return "error: " + routers.error().ToString();
  for (const auto& r : routers->items)
    out += "router @" + std::to_string(r.revision) + " " + r.id + " host=" + r.host + "\n";
  auto ports = store.ListPorts("", {1000, "", ""});
  if (!ports) return "error: " + ports.error().ToString();
  for (const auto& b : ports->items)
    out +=
        "port " + b.network_id + " " + b.ip_address + " " + b.port_id + " " + b.instance_id + "\n";
  auto revision = store.CurrentRevision();
  out += "revision " + (revision ? std::to_string(*revision) : revision.error().ToString());
  return out;
}

template <typename R>
Status AsStatus(const R& result) {
  if (!result) return std::unexpected(result.error());
  return Ok();
}

// A write the store refuses changes nothing a reader can see, announces nothing, and leaves
// no part of itself behind (a document whose first port was indexed before its second failed).
TEST_P(StoreContractTest, RejectedWritesChangeNothing) {
  ASSERT_TRUE(store_->CreateRouter({"r1", "r1", "proj-a", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", "r1", 0, ""}));
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-a", std::nullopt, 0, ""}));
  auto u1 = store_->CreateInstance(InstanceWithPort(kU1, "net-a", "10.0.0.5"));
  auto u2 = store_->CreateInstance(InstanceWithPort(kU2, "net-a", "10.0.0.6"));
  ASSERT_TRUE(u1 && u2);
  ASSERT_TRUE(store_->SetPassword(kU1, "set"));
  const std::string before = Snapshot(*store_);

  Announcements feed(*store_);

  auto with = [&](core::Instance inst, const std::function<void(core::Instance&)>& edit) {
    edit(inst);
    return inst;
  };
  const core::Instance u2_doc = u2->instance;
  // A second port whose IP is free and a third whose IP is taken: the free one must not stay.
  core::Instance two_ports = InstanceWithPort(kU3, "net-b", "10.9.0.1");
  core::Instance taken = InstanceWithPort(kU3, "net-a", "10.0.0.5");
  two_ports.ports.push_back(taken.ports[0]);
  two_ports.ports.back().id = "port-second";
  struct Case {
    std::string name;
    Status status;
    ErrorCode code;
  };
  const Case cases[] = {
      {"create: duplicate uuid",
       AsStatus(store_->CreateInstance(InstanceWithPort(kU1, "net-b", "10.9.0.2"))),
       ErrorCode::kConflict},
      {"create: second port's IP taken", AsStatus(store_->CreateInstance(two_ports)),
       ErrorCode::kConflict},
      {"create: same IP twice in one document",
       AsStatus(store_->CreateInstance(with(InstanceWithPort(kU3, "net-b", "10.9.0.3"),
                                            [](core::Instance& i) {
                                              i.ports.push_back(i.ports[0]);
                                              i.ports.back().id = "port-twin";
                                            }))),
       ErrorCode::kConflict},
      {"replace: onto a taken IP",
       AsStatus(store_->ReplaceInstance(
           with(u2_doc, [](core::Instance& i) { i.ports[0].subnets[0].ip_address = "10.0.0.5"; }),
           std::nullopt)),
       ErrorCode::kConflict},
      {"replace: unknown network",
       AsStatus(store_->ReplaceInstance(
           with(u2_doc, [](core::Instance& i) { i.ports[0].network_id = "net-zz"; }),
           std::nullopt)),
       ErrorCode::kInvalidArgument},
      {"replace: a router the network is not attached to",
       AsStatus(store_->ReplaceInstance(
           with(u2_doc, [](core::Instance& i) { i.ports[0].router_id = "r9"; }), std::nullopt)),
       ErrorCode::kInvalidArgument},
      {"replace: stale revision",
       AsStatus(store_->ReplaceInstance(
           with(u2_doc, [](core::Instance& i) { i.hostname = "stale"; }), u2->revision - 1)),
       ErrorCode::kAborted},
      {"password: already set", AsStatus(store_->SetPassword(kU1, "again")), ErrorCode::kConflict},
      {"password: too long", AsStatus(store_->SetPassword(kU2, std::string(1021, 'x'))),
       ErrorCode::kInvalidArgument},
      {"delete: network in use", store_->DeleteNetwork("net-a"), ErrorCode::kConflict},
      {"delete: router in use", store_->DeleteRouter("r1"), ErrorCode::kConflict},
      {"delete: unknown instance", store_->DeleteInstance(kU3), ErrorCode::kNotFound},
      {"network: duplicate id",
       AsStatus(store_->CreateNetwork({"net-b", "again", "proj-a", std::nullopt, 0, ""})),
       ErrorCode::kConflict},
      {"network: unknown router",
       AsStatus(store_->CreateNetwork({"net-c", "c", "proj-a", "r9", 0, ""})),
       ErrorCode::kInvalidArgument},
      {"network: attach to unknown router", AsStatus(store_->SetNetworkRouter("net-b", "r9")),
       ErrorCode::kNotFound},
      {"router: duplicate id", AsStatus(store_->CreateRouter({"r1", "again", "proj-a", 0, ""})),
       ErrorCode::kConflict},
      {"router: host with a space",
       AsStatus(store_->CreateRouter({"r2", "r2", "proj-a", 0, "node 1"})),
       ErrorCode::kInvalidArgument},
      {"router: set host of unknown router", AsStatus(store_->SetRouterHost("r9", "node-1")),
       ErrorCode::kNotFound},
      {"router: set host too long", AsStatus(store_->SetRouterHost("r1", std::string(256, 'h'))),
       ErrorCode::kInvalidArgument},
      {"network: host with a control character",
       AsStatus(store_->CreateNetwork({"net-c", "c", "proj-a", std::nullopt, 0, "node\t1"})),
       ErrorCode::kInvalidArgument},
      {"network: set host of unknown network", AsStatus(store_->SetNetworkHost("net-z", "n")),
       ErrorCode::kNotFound},
      {"network: set host with a space", AsStatus(store_->SetNetworkHost("net-a", "a b")),
       ErrorCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    ASSERT_FALSE(c.status) << c.name;
    EXPECT_EQ(c.status.error().code, c.code) << c.name << ": " << c.status.error().ToString();
  }
  EXPECT_EQ(Snapshot(*store_), before);
  EXPECT_EQ(store_->FindPortOnNetwork("net-b", "10.9.0.1").error().code, ErrorCode::kNotFound);

  // The feed: the next committed write is the first thing announced since the subscription.
  auto marker = store_->CreateRouter({"r-marker", "m", "proj-a", 0, ""});
  ASSERT_TRUE(marker);
  std::vector<Change> announced =
      feed.Await([](const std::vector<Change>& c) { return !c.empty(); });
  ASSERT_EQ(announced.size(), 1u);
  EXPECT_EQ(announced[0].id, "r-marker");
  EXPECT_EQ(announced[0].revision, marker->revision);
}

// Many writers race to create instances that claim the same IPs while readers resolve those
// IPs: each IP goes to exactly one instance, every lookup that succeeds names an instance whose
// document holds that IP, and afterwards the port index and the documents agree.
TEST_P(StoreContractTest, ConcurrentCreatesClaimEachIpOnce) {
  ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
  constexpr int kWriters = 6, kIps = 10;
  std::atomic<int> created{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers, readers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < kIps; ++i) {
        auto r = store_->CreateInstance(
            InstanceWithPort(Uuid(w * 100 + i + 1), "net-a", "10.0.1." + std::to_string(i + 1)));
        if (r)
          ++created;
        else
          EXPECT_EQ(r.error().code, ErrorCode::kConflict) << r.error().ToString();
      }
    });
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      while (writing.load()) {
        for (int i = 0; i < kIps; ++i) {
          std::string ip = "10.0.1." + std::to_string(i + 1);
          auto port = store_->FindPortOnNetwork("net-a", ip);
          if (!port) {
            EXPECT_EQ(port.error().code, ErrorCode::kNotFound) << port.error().ToString();
            continue;
          }
          auto owner = store_->GetInstance(port->instance_id);
          ASSERT_TRUE(owner) << owner.error().ToString();
          EXPECT_EQ(*owner->instance.ports[0].subnets[0].ip_address, ip);
        }
      }
    });
  for (auto& th : writers) th.join();
  writing = false;
  for (auto& th : readers) th.join();
  EXPECT_EQ(created.load(), kIps);
  auto ports = store_->ListPorts("net-a", {1000, "", ""});
  ASSERT_TRUE(ports);
  ASSERT_EQ(ports->items.size(), size_t{kIps});
  std::set<std::string> owners;
  for (const auto& b : ports->items) {
    auto owner = store_->GetInstance(b.instance_id);
    ASSERT_TRUE(owner) << b.instance_id;
    EXPECT_EQ(*owner->instance.ports[0].subnets[0].ip_address, b.ip_address);
    owners.insert(b.instance_id);
  }
  EXPECT_EQ(owners.size(), size_t{kIps});
  EXPECT_EQ(store_->ListInstances({1000, "", ""})->items.size(), size_t{kIps});
}

INSTANTIATE_TEST_SUITE_P(Memory, StoreContractTest,
                         ::testing::Values(StoreFactory{"memory", [] { return NewMemoryStore(); }}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace metastack::store::testing
