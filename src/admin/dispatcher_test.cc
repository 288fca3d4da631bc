#include "admin/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <limits>
#include <string_view>
#include <thread>

#include "admin/handler.h"
#include "store/forwarding_store.h"
#include "store/memory_store.h"

namespace metastack::admin {
namespace {

using Json = nlohmann::ordered_json;
using namespace std::chrono_literals;

constexpr char kUuid[] = "b65cee2f-8c69-4aeb-be2f-f79742548fc2";

std::string Doc(const std::string& ip = "10.0.0.5", const std::string& network = "net-a") {
  return Json{{"uuid", kUuid},
              {"hostname", "web-01"},
              {"project_id", "p"},
              {"ports",
               {{{"id", "port-1"},
                 {"mac", "fa:16:3e:00:00:01"},
                 {"network_id", network},
                 {"subnets", {{{"cidr", "10.0.0.0/24"}, {"ip_address", ip}}}}}}}}
      .dump();
}

class DispatchTest : public ::testing::Test {
 protected:
  AdminReply Call(const std::string& method, const std::string& target,
                  const std::string& body = "") {
    size_t q = target.find('?');
    AdminRequest r{method, target.substr(0, q), q == std::string::npos ? "" : target.substr(q + 1),
                   body};
    return Dispatch(*store_, r);
  }
  std::unique_ptr<store::Store> store_ = store::NewMemoryStore();
};

TEST_F(DispatchTest, InstanceLifecycle) {
  EXPECT_EQ(Call("POST", "/v1/networks", R"({"id": "net-a", "name": "a"})").status, 201u);
  AdminReply created = Call("POST", "/v1/instances", Doc());
  ASSERT_EQ(created.status, 201u) << created.body.dump();
  EXPECT_EQ(created.body["instance"]["uuid"], kUuid);
  int64_t rev = created.body["revision"];
  AdminReply got = Call("GET", std::string("/v1/instances/") + kUuid);
  EXPECT_EQ(got.status, 200u);
  EXPECT_EQ(got.body["revision"], rev);
  AdminReply patched = Call("PATCH", std::string("/v1/instances/") + kUuid,
                            R"({"meta": {"role": "db"}, "hostname": "db-01"})");
  ASSERT_EQ(patched.status, 200u) << patched.body.dump();
  EXPECT_EQ(patched.body["instance"]["meta"]["role"], "db");
  EXPECT_EQ(patched.body["instance"]["hostname"], "db-01");
  AdminReply stale =
      Call("PATCH", std::string("/v1/instances/") + kUuid + "?revision=" + std::to_string(rev),
           R"({"meta": {"x": "y"}})");
  EXPECT_EQ(stale.status, 409u);
  EXPECT_EQ(Call("DELETE", std::string("/v1/instances/") + kUuid).status, 204u);
  EXPECT_EQ(Call("GET", std::string("/v1/instances/") + kUuid).status, 404u);
}

TEST_F(DispatchTest, ErrorsNameTheField) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  struct Case {
    std::string method, target, body;
    unsigned status;
    std::string error;
  } cases[] = {
      {"POST", "/v1/instances", "{", 400,
       R"({"error": {"code": "invalid_argument", "message": "request body is not valid JSON"}})"},
      {"POST", "/v1/instances", Doc("10.0.0.5", "net-zz"), 400,
       R"({"error": {"code": "invalid_argument", "message": "unknown network net-zz", "field": "ports[0].network_id"}})"},
      {"POST", "/v1/instances", R"({"uuid": "x", "hostname": "h", "project_id": "p"})", 400,
       R"({"error": {"code": "invalid_argument", "message": "not a UUID", "field": "uuid"}})"},
      {"POST", "/v1/networks", R"({"id": "net-a"})", 409,
       R"({"error": {"code": "conflict", "message": "network net-a exists"}})"},
      {"POST", "/v1/networks", R"({"id": "n", "colour": "red"})", 400,
       R"({"error": {"code": "invalid_argument", "message": "unknown field", "field": "colour"}})"},
      {"GET", "/v1/instances?limit=0", "", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected a number from 1 to 1000", "field": "limit"}})"},
      {"GET", "/v1/nothing", "", 404,
       R"({"error": {"code": "not_found", "message": "no such resource"}})"},
      {"GET", "/v1/ports/lookup?ip=10.0.0.5", "", 400,
       R"({"error": {"code": "invalid_argument", "message": "give exactly one of network_id and router_id"}})"},
  };
  for (const auto& c : cases) {
    AdminReply r = Call(c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target;
    EXPECT_EQ(core::DumpPython(r.body), c.error) << c.method << " " << c.target;
  }
}

TEST_F(DispatchTest, DuplicateIpIsAConflict) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  ASSERT_EQ(Call("POST", "/v1/instances", Doc()).status, 201u);
  Json other = Json::parse(Doc());
  other["uuid"] = "11111111-1111-4111-8111-111111111111";
  other["ports"][0]["id"] = "port-2";
  AdminReply r = Call("POST", "/v1/instances", other.dump());
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(r.body["error"]["message"],
            std::string("IP 10.0.0.5 on network net-a belongs to instance ") + kUuid);
}

TEST_F(DispatchTest, RoutersPortsAndLookups) {
  ASSERT_EQ(Call("POST", "/v1/routers", R"({"id": "r1", "name": "edge"})").status, 201u);
  ASSERT_EQ(Call("POST", "/v1/networks", R"({"id": "net-a", "router_id": "r1"})").status, 201u);
  ASSERT_EQ(Call("POST", "/v1/instances", Doc()).status, 201u);
  AdminReply ports = Call("GET", "/v1/ports?network_id=net-a");
  ASSERT_EQ(ports.body["ports"].size(), 1u);
  EXPECT_EQ(ports.body["ports"][0]["ip_address"], "10.0.0.5");
  AdminReply viaRouter = Call("GET", "/v1/ports/lookup?ip=%3A%3Affff%3A10.0.0.5&router_id=r1");
  EXPECT_EQ(viaRouter.status, 200u) << viaRouter.body.dump();
  EXPECT_EQ(viaRouter.body["instance_id"], kUuid);
  EXPECT_EQ(Call("DELETE", "/v1/routers/r1").status, 409u);
  EXPECT_EQ(Call("PUT", "/v1/networks/net-a/router", R"({"router_id": null})").body["router_id"],
            nullptr);
  EXPECT_EQ(Call("DELETE", "/v1/routers/r1").status, 204u);
}

TEST_F(DispatchTest, HostsOfRoutersAndNetworks) {
  AdminReply router = Call("POST", "/v1/routers", R"({"id": "r1", "host": "node-1"})");
  ASSERT_EQ(router.status, 201u) << router.body.dump();
  EXPECT_EQ(router.body["host"], "node-1");
  AdminReply network = Call("POST", "/v1/networks", R"({"id": "net-a", "host": null})");
  ASSERT_EQ(network.status, 201u) << network.body.dump();
  EXPECT_EQ(network.body["host"], nullptr);
  AdminReply moved = Call("PUT", "/v1/networks/net-a/host", R"({"host": "node-2"})");
  ASSERT_EQ(moved.status, 200u) << moved.body.dump();
  EXPECT_EQ(moved.body["host"], "node-2");
  EXPECT_EQ(Call("GET", "/v1/networks").body["networks"][0]["host"], "node-2");
  AdminReply cleared = Call("PUT", "/v1/routers/r1/host", R"({"host": null})");
  ASSERT_EQ(cleared.status, 200u) << cleared.body.dump();
  EXPECT_EQ(cleared.body["host"], nullptr);
  EXPECT_EQ(Call("GET", "/v1/routers/r1").body["host"], nullptr);
  struct Case {
    std::string method, target, body;
    unsigned status;
    std::string error;
  } cases[] = {
      {"PUT", "/v1/routers/r1/host", R"({"host": 7})", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected a string, or null to unassign", "field": "host"}})"},
      {"PUT", "/v1/routers/r9/host", R"({"host": "n"})", 404,
       R"({"error": {"code": "not_found", "message": "no router r9"}})"},
      {"PUT", "/v1/networks/net-a/host", R"({"host": "a b"})", 400,
       R"({"error": {"code": "invalid_argument", "message": "contains spaces or control characters", "field": "host"}})"},
      {"POST", "/v1/routers", R"({"id": "r2", "host": 1})", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected a string", "field": "host"}})"},
  };
  for (const auto& c : cases) {
    AdminReply r = Call(c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target;
    EXPECT_EQ(core::DumpPython(r.body), c.error) << c.method << " " << c.target;
  }
}

// The session policy: a network's through its own resource (and at creation), an instance's
// through its document (merge patch; null unsets). Errors name the field.
TEST_F(DispatchTest, HttpTokensOfNetworksAndInstances) {
  AdminReply created =
      Call("POST", "/v1/networks", R"({"id": "net-a", "http_tokens": "required"})");
  ASSERT_EQ(created.status, 201u) << created.body.dump();
  EXPECT_EQ(created.body["http_tokens"], "required");
  AdminReply plain = Call("POST", "/v1/networks", R"({"id": "net-b"})");
  EXPECT_EQ(plain.body["http_tokens"], nullptr);
  AdminReply set = Call("PUT", "/v1/networks/net-b/http_tokens", R"({"http_tokens": "optional"})");
  ASSERT_EQ(set.status, 200u) << set.body.dump();
  EXPECT_EQ(set.body["http_tokens"], "optional");
  EXPECT_EQ(Call("GET", "/v1/networks").body["networks"][1]["http_tokens"], "optional");
  AdminReply unset = Call("PUT", "/v1/networks/net-a/http_tokens", R"({"http_tokens": null})");
  ASSERT_EQ(unset.status, 200u) << unset.body.dump();
  EXPECT_EQ(unset.body["http_tokens"], nullptr);
  EXPECT_EQ(Call("GET", "/v1/networks/net-a").body["http_tokens"], nullptr);

  ASSERT_EQ(Call("POST", "/v1/instances", Doc("10.0.0.5")).status, 201u);
  std::string path = std::string("/v1/instances/") + kUuid;
  AdminReply required = Call("PATCH", path, R"({"metadata_options": {"http_tokens": "required"}})");
  ASSERT_EQ(required.status, 200u) << required.body.dump();
  EXPECT_EQ(required.body["instance"]["metadata_options"]["http_tokens"], "required");
  AdminReply cleared = Call("PATCH", path, R"({"metadata_options": {"http_tokens": null}})");
  ASSERT_EQ(cleared.status, 200u) << cleared.body.dump();
  EXPECT_FALSE(cleared.body["instance"].contains("metadata_options"));

  struct Case {
    std::string method, target, body;
    unsigned status;
    std::string error;
  } cases[] = {
      {"PUT", "/v1/networks/net-a/http_tokens", R"({"http_tokens": "always"})", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected \"optional\", \"required\" or null to unset", "field": "http_tokens"}})"},
      {"PUT", "/v1/networks/net-a/http_tokens", R"({})", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected \"optional\", \"required\" or null to unset", "field": "http_tokens"}})"},
      {"PUT", "/v1/networks/net-z/http_tokens", R"({"http_tokens": "required"})", 404,
       R"({"error": {"code": "not_found", "message": "no network net-z"}})"},
      {"POST", "/v1/networks", R"({"id": "net-c", "http_tokens": 1})", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected \"optional\", \"required\" or null to unset", "field": "http_tokens"}})"},
      {"PATCH", path, R"({"metadata_options": {"http_tokens": "sometimes"}})", 400,
       R"({"error": {"code": "invalid_argument", "message": "expected \"optional\" or \"required\"", "field": "metadata_options.http_tokens"}})"},
  };
  for (const auto& c : cases) {
    AdminReply r = Call(c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target;
    EXPECT_EQ(core::DumpPython(r.body), c.error) << c.method << " " << c.target;
  }
}

TEST_F(DispatchTest, Pagination) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  for (int i = 0; i < 5; ++i) {
    Json d = Json::parse(Doc("10.0.0." + std::to_string(10 + i)));
    d["uuid"] = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
    d["ports"][0]["id"] = "port-" + std::to_string(i);
    ASSERT_EQ(Call("POST", "/v1/instances", d.dump()).status, 201u);
  }
  AdminReply page = Call("GET", "/v1/instances?limit=2");
  EXPECT_EQ(page.body["instances"].size(), 2u);
  std::string next = page.body["next"];
  AdminReply page2 = Call("GET", "/v1/instances?limit=10&after=" + next);
  EXPECT_EQ(page2.body["instances"].size(), 3u);
  EXPECT_TRUE(page2.body["next"].is_null());
}

TEST_F(DispatchTest, PortsArePagedLikeEveryList) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  Call("POST", "/v1/networks", R"({"id": "net-a2"})");
  for (int i = 0; i < 5; ++i) {
    Json d = Json::parse(Doc("10.0.0." + std::to_string(10 + i), i % 2 ? "net-a2" : "net-a"));
    d["uuid"] = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
    d["ports"][0]["id"] = "port-" + std::to_string(i);
    ASSERT_EQ(Call("POST", "/v1/instances", d.dump()).status, 201u);
  }
  std::vector<std::string> seen, cursors;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    AdminReply page = Call("GET", "/v1/ports?limit=2" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(page.status, 200u) << page.body.dump();
    EXPECT_LE(page.body["ports"].size(), 2u);
    for (const auto& b : page.body["ports"])
      seen.push_back(b["network_id"].get<std::string>() + "/" + b["ip_address"].get<std::string>());
    if (page.body["next"].is_null()) break;
    after = page.body["next"].get<std::string>();
    cursors.push_back(after);
    for (auto& c : after)
      if (c == ' ') c = '+';
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"net-a/10.0.0.10", "net-a/10.0.0.12", "net-a/10.0.0.14",
                                            "net-a2/10.0.0.11", "net-a2/10.0.0.13"}));
  EXPECT_EQ(cursors, (std::vector<std::string>{"net-a 10.0.0.12", "net-a2 10.0.0.11"}));
  AdminReply filtered = Call("GET", "/v1/ports?network_id=net-a2&limit=1000");
  EXPECT_EQ(filtered.body["ports"].size(), 2u);
  EXPECT_TRUE(filtered.body["next"].is_null());
  AdminReply bad = Call("GET", "/v1/ports?limit=1001");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.body["error"]["field"], "limit");
}

// A store on which another writer edits the instance just before each of this caller's first
// `losses` replaces (or every one until StopRivals()), so that each of them finds its revision
// stale.
class RivalWriterStore : public store::ForwardingStore {
 public:
  RivalWriterStore(store::Store& inner, int losses) : ForwardingStore(inner), losses_(losses) {}
  int rival_edits() const { return rival_edits_; }
  // Set when the caller has lost its first race.
  std::future<void> FirstLoss() { return first_loss_.get_future(); }
  void StopRivals() { stopped_ = true; }

  Result<store::InstanceRecord> ReplaceInstance(const core::Instance& instance,
                                                std::optional<int64_t> expected) override {
    if (rival_edits_ < losses_ && !stopped_) {
      auto current = inner().GetInstance(instance.uuid);
      if (!current) return std::unexpected(current.error());
      current->instance.meta.emplace_back("rival-" + std::to_string(rival_edits_), "x");
      if (auto r = inner().ReplaceInstance(current->instance, std::nullopt); !r) return r;
      if (rival_edits_++ == 0) first_loss_.set_value();
    }
    return inner().ReplaceInstance(instance, expected);
  }

 private:
  int losses_;
  std::atomic<int> rival_edits_ = 0;
  std::atomic<bool> stopped_ = false;
  std::promise<void> first_loss_;
};

// Many writers on one instance (several API nodes on one PostgreSQL) make a PATCH lose the
// race again and again; without ?revision= it must still apply, and keep the others' edits.
TEST_F(DispatchTest, PatchWithoutRevisionOutlastsRivalWriters) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  ASSERT_EQ(Call("POST", "/v1/instances", Doc()).status, 201u);
  RivalWriterStore rivals(*store_, 30);
  AdminReply r = Dispatch(
      rivals, {"PATCH", std::string("/v1/instances/") + kUuid, "", R"({"meta": {"mine": "yes"}})"});
  ASSERT_EQ(r.status, 200u) << r.body.dump();
  EXPECT_EQ(rivals.rival_edits(), 30);
  const Json& meta = r.body["instance"]["meta"];
  EXPECT_EQ(meta["mine"], "yes");
  for (int i = 0; i < 30; ++i) EXPECT_EQ(meta["rival-" + std::to_string(i)], "x") << i;
  // With an explicit revision a lost race is the caller's to handle: 409 at once.
  int64_t revision = r.body["revision"];
  RivalWriterStore one_rival(*store_, 1);
  AdminReply pinned = Dispatch(
      one_rival, {"PATCH", std::string("/v1/instances/") + kUuid,
                  "revision=" + std::to_string(revision), R"({"meta": {"pinned": "yes"}})"});
  EXPECT_EQ(pinned.status, 409u) << pinned.body.dump();
  EXPECT_EQ(pinned.body["error"]["code"], "aborted");
}

// The admin listener's handler on a one-thread pool (the pool guests' cache misses share): while
// a PATCH keeps losing the race and waits between tries, the thread serves another request.
TEST_F(DispatchTest, APatchWaitingToRetryHoldsNoPoolThread) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  ASSERT_EQ(Call("POST", "/v1/instances", Doc()).status, 201u);
  RivalWriterStore rivals(*store_, std::numeric_limits<int>::max());
  auto lost_once = rivals.FirstLoss();
  asio::thread_pool pool(1);
  asio::io_context ioc;
  auto work = asio::make_work_guard(ioc);
  std::thread io([&] { ioc.run(); });
  http::Handler handler = MakeAdminHandler(
      rivals, pool, "secret",
      [](http::Request&) -> asio::awaitable<http::Response> { co_return http::Response{}; });
  auto call = [&](bhttp::verb method, const std::string& target, const std::string& body) {
    auto req = std::make_shared<http::Request>();
    req->message = {method, target, 11};
    req->message.set(bhttp::field::authorization, "Bearer secret");
    req->message.body() = body;
    auto answer = std::make_shared<std::promise<http::Response>>();
    auto future = answer->get_future();
    asio::co_spawn(ioc, handler(*req),
                   [req, answer](std::exception_ptr, http::Response r) { answer->set_value(r); });
    return future;
  };
  std::string path = std::string("/v1/instances/") + kUuid;
  auto patched = call(bhttp::verb::patch, path, R"({"meta": {"mine": "yes"}})");
  ASSERT_EQ(lost_once.wait_for(10s), std::future_status::ready);

  auto got = call(bhttp::verb::get, path, "");
  ASSERT_EQ(got.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(got.get().status, 200u);
  EXPECT_EQ(patched.wait_for(0s), std::future_status::timeout) << "the PATCH gave up first";

  rivals.StopRivals();
  ASSERT_EQ(patched.wait_for(10s), std::future_status::ready);
  http::Response r = patched.get();
  EXPECT_EQ(r.status, 200u) << r.body;
  Json meta = Json::parse(r.body)["instance"]["meta"];
  EXPECT_EQ(meta["mine"], "yes");
  EXPECT_EQ(meta.size(), size_t(rivals.rival_edits()) + 1);
  work.reset();
  io.join();
}

TEST_F(DispatchTest, PasswordReset) {
  Call("POST", "/v1/networks", R"({"id": "net-a"})");
  Call("POST", "/v1/instances", Doc());
  ASSERT_TRUE(store_->SetPassword(kUuid, "enc"));
  AdminReply r = Call("DELETE", std::string("/v1/instances/") + kUuid + "/password");
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.body["instance"].contains("password"));
  EXPECT_TRUE(store_->SetPassword(kUuid, "again"));
}

TEST(QueryParamTest, Decodes) {
  EXPECT_EQ(QueryParam("a=1&b=x%20y+z&c", "b"), "x y z");
  EXPECT_EQ(QueryParam("a=1", "b"), "");
  EXPECT_EQ(QueryParam("c&a=1", "c"), "");
}

}  // namespace
}  // namespace metastack::admin
