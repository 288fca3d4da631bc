#include "api/vendor_data.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/testdata.h"
#include "core/vendor_data.h"
#include "http/server.h"

namespace metastack::api {
namespace {

using namespace std::chrono_literals;
using core::Json;

constexpr char kVmUuid[] = "b65cee2f-8c69-4aeb-be2f-f79742548fc2";

// Real HTTP targets on a loopback port: /good answers {"n": N} (N counts its requests), /slow
// the same after `slow_delay`, /error 500, /text a 200 that is not JSON, and /switch whatever
// `mode` says. Runs on its own thread.
class Targets {
 public:
  Targets() {
    server_ = std::make_unique<http::Server>(ioc_, http::ServerLimits{});
    port_ =
        server_->ListenTcp("127.0.0.1", 0, [this](http::Request& r) { return Answer(r); })->port();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~Targets() {
    asio::post(ioc_, [this] { server_->Stop(); });
    thread_.join();
  }
  std::string Url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int requests(std::string_view path) {
    std::lock_guard lock(mu_);
    return counts_[std::string(path)];
  }
  std::vector<http::Request> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

  std::atomic<int> mode{200};  // /switch: 200 {"v": version}, 500, or 0 (not JSON)
  std::atomic<int> version{1};
  std::chrono::milliseconds slow_delay{0};

 private:
  asio::awaitable<http::Response> Answer(http::Request& req) {
    std::string path(req.message.target());
    int n;
    {
      std::lock_guard lock(mu_);
      n = ++counts_[path];
      received_.push_back(req);
    }
    http::Response r;
    r.content_type = "application/json";
    if (path == "/slow") {
      asio::steady_timer t(co_await asio::this_coro::executor, slow_delay);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (path == "/good" || path == "/slow") {
      r.body = "{\"n\": " + std::to_string(n) + "}";
    } else if (path == "/error" || (path == "/switch" && mode == 500)) {
      r.status = 500;
      r.body = "{}";
    } else if (path == "/text" || (path == "/switch" && mode == 0)) {
      r.body = "<html>not JSON</html>";
    } else {
      r.body = "{\"v\": " + std::to_string(version.load()) + "}";
    }
    co_return r;
  }

  asio::io_context ioc_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
  std::vector<http::Request> received_;
};

// A port nothing listens on: bound, then closed.
std::string DeadUrl() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  uint16_t port = a.local_endpoint().port();
  a.close();
  return "http://127.0.0.1:" + std::to_string(port) + "/dead";
}

class VendorDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    instance_ = core::ParseInstanceJson(core::testing::ExampleDocument()).value();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    work_.reset();
    thread_.join();
  }
  void Make(std::vector<VendorDataTarget> targets, std::chrono::milliseconds read_timeout = 5'000ms,
            size_t max_instances = 100) {
    DynamicVendorDataOptions o;
    o.targets = std::move(targets);
    o.connect_timeout = 2'000ms;
    o.read_timeout = read_timeout;
    o.max_instances = max_instances;
    auto made = DynamicVendorData::Make(o, metrics_);
    ASSERT_TRUE(made) << made.error().ToString();
    vd_ = std::move(*made);
  }
  std::future<std::shared_ptr<const core::VendorDataParts>> Start(const core::Instance& inst) {
    return asio::co_spawn(ioc_, vd_->Get(inst), asio::use_future);
  }
  // The parts as vendor_data2.json shows them (after "static").
  std::string Get(const core::Instance& inst) { return Show(*Start(inst).get()); }
  std::string Get() { return Get(instance_); }
  static std::string Show(const core::VendorDataParts& parts) {
    Json j = Json::object();
    for (const auto& p : parts) j[p.name] = p.value;
    return core::DumpPython(j);
  }
  void Change(const std::string& uuid = kVmUuid, bool deleted = false) {
    vd_->Invalidate(store::Change{1, store::Change::Kind::kInstance, uuid, deleted});
  }
  double Count(const std::string& target, const std::string& result) {
    return metrics_
        .Counter("metastack_vendordata_requests_total",
                 http::Labels({{"target", target}, {"result", result}}))
        .value();
  }

  Targets targets_;
  http::Metrics metrics_;
  core::Instance instance_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::thread thread_;
  std::unique_ptr<DynamicVendorData> vd_;
};

TEST_F(VendorDataTest, PostsNovasRequestAndKeepsTheAnswerUntilTheInstanceChanges) {
  Make({{"good", targets_.Url("/good")}});
  EXPECT_EQ(Get(), R"({"good": {"n": 1}})");
  EXPECT_EQ(Get(), R"({"good": {"n": 1}})");  // from the cache: nothing fetched
  EXPECT_EQ(targets_.requests("/good"), 1);
  Change("another-instance");
  EXPECT_EQ(Get(), R"({"good": {"n": 1}})");
  Change();
  EXPECT_EQ(Get(), R"({"good": {"n": 2}})");
  Change("");  // the feed's "flush all"
  EXPECT_EQ(Get(), R"({"good": {"n": 3}})");
  EXPECT_EQ(Count("good", "ok"), 3);

  auto received = targets_.received();
  ASSERT_EQ(received.size(), 3u);
  const auto& m = received[0].message;
  EXPECT_EQ(m.method(), bhttp::verb::post);
  EXPECT_EQ(m.body(), core::DynamicVendorDataRequest(instance_));
  EXPECT_EQ(m[bhttp::field::content_type], "application/json");
  EXPECT_EQ(m[bhttp::field::accept], "application/json");
  EXPECT_EQ(m[bhttp::field::user_agent], "openstack-nova-vendordata");
}

TEST_F(VendorDataTest, FailingTargetsAreEmptyAndAnswerWithinTheirDeadlines) {
  targets_.slow_delay = 3'000ms;
  const auto read_timeout = 300ms;
  Make({{"good", targets_.Url("/good")},
        {"dead", DeadUrl()},
        {"slow", targets_.Url("/slow")},
        {"error", targets_.Url("/error")},
        {"text", targets_.Url("/text")}},
       read_timeout);
  auto started = std::chrono::steady_clock::now();
  std::string got = Get();
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(got, R"({"good": {"n": 1}, "dead": {}, "slow": {}, "error": {}, "text": {}})");
  // The slow target was waited for, up to its read deadline (and not its 3 s answer); the
  // bound is generous for a loaded, sanitised build.
  EXPECT_GE(took, read_timeout);
  EXPECT_LT(took, 2'500ms);
  EXPECT_EQ(Count("good", "ok"), 1);
  EXPECT_EQ(Count("dead", "unavailable"), 1);
  EXPECT_EQ(Count("slow", "timeout"), 1);
  EXPECT_EQ(Count("error", "status"), 1);
  EXPECT_EQ(Count("text", "invalid"), 1);
  EXPECT_NE(metrics_.Render().find("metastack_vendordata_seconds_count{target=\"slow\"} 1"),
            std::string::npos);
  // The failing targets are asked again at the next request; the good one is not.
  EXPECT_EQ(Get(), R"({"good": {"n": 1}, "dead": {}, "slow": {}, "error": {}, "text": {}})");
  EXPECT_EQ(targets_.requests("/good"), 1);
  EXPECT_EQ(targets_.requests("/error"), 2);
  EXPECT_EQ(Count("dead", "unavailable"), 2);
}

TEST_F(VendorDataTest, TheLastGoodAnswerIsKeptWhileTheTargetFails) {
  Make({{"sw", targets_.Url("/switch")}}, 300ms);
  EXPECT_EQ(Get(), R"({"sw": {"v": 1}})");
  targets_.version = 2;
  targets_.mode = 500;
  Change();
  EXPECT_EQ(Get(), R"({"sw": {"v": 1}})");
  targets_.mode = 0;
  EXPECT_EQ(Get(), R"({"sw": {"v": 1}})");
  EXPECT_EQ(Count("sw", "status"), 1);
  EXPECT_EQ(Count("sw", "invalid"), 1);
  targets_.mode = 200;
  EXPECT_EQ(Get(), R"({"sw": {"v": 2}})");  // asked again: the last answer had failed
  EXPECT_EQ(Get(), R"({"sw": {"v": 2}})");
  EXPECT_EQ(targets_.requests("/switch"), 4);
  // A deleted instance is forgotten.
  Change(kVmUuid, /*deleted=*/true);
  EXPECT_EQ(vd_->size(), 0u);
}

TEST_F(VendorDataTest, ConcurrentRequestsShareOneFetch) {
  targets_.slow_delay = 200ms;
  Make({{"slow", targets_.Url("/slow")}});
  // A second io_context thread: waiters on other threads are resumed on their own.
  asio::io_context other;
  auto guard = asio::make_work_guard(other);
  std::thread t([&] { other.run(); });
  std::vector<std::future<std::shared_ptr<const core::VendorDataParts>>> waiting;
  for (int i = 0; i < 8; ++i)
    waiting.push_back(i % 2 ? Start(instance_)
                            : asio::co_spawn(other, vd_->Get(instance_), asio::use_future));
  for (auto& f : waiting) EXPECT_EQ(Show(*f.get()), R"({"slow": {"n": 1}})");
  EXPECT_EQ(targets_.requests("/slow"), 1);
  guard.reset();
  t.join();
  vd_.reset();  // its idle connections belong to `other`'s reactor too
}

TEST_F(VendorDataTest, AnAnswerToARequestMadeBeforeAChangeIsNotFresh) {
  targets_.slow_delay = 300ms;
  Make({{"slow", targets_.Url("/slow")}});
  auto first = Start(instance_);
  while (targets_.requests("/slow") == 0) std::this_thread::yield();
  Change();  // while the fetch is in flight
  EXPECT_EQ(Show(*first.get()), R"({"slow": {"n": 1}})");
  EXPECT_EQ(Get(), R"({"slow": {"n": 2}})");
}

TEST_F(VendorDataTest, InstancesHeldAreBounded) {
  Make({{"good", targets_.Url("/good")}}, 5'000ms, /*max_instances=*/2);
  for (const char* uuid :
       {"11111111-2222-4333-8444-555555555551", "11111111-2222-4333-8444-555555555552",
        "11111111-2222-4333-8444-555555555553"}) {
    core::Instance inst = core::testing::InstanceWithPort(uuid, "net", "10.0.0.5");
    Get(inst);
  }
  EXPECT_EQ(vd_->size(), 2u);
}

TEST(ParseVendorDataTargetTest, AsNovaSplitsIt) {
  auto t = ParseVendorDataTarget("ci@http://user@host:81/x@y?q=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name, "ci");
  EXPECT_EQ(t->url, "http://user@host:81/x@y?q=1");
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"http://host/", "vendor data target http://host/: expected NAME@URL"},
      {"@http://host/", "vendor data target @http://host/: expected NAME@URL"},
      {"static@http://host/",
       "vendor data target static@http://host/: the name static is the static vendor data's"},
      {"a@https://host/",
       "vendor data target a@https://host/: https is not supported; use http://"},
      {"a@ftp://host/", "vendor data target a@ftp://host/: expected an http:// URL"},
      {"a@http://", "vendor data target a@http://: expected an http:// URL"},
  };
  for (const auto& c : cases) {
    auto r = ParseVendorDataTarget(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().message, c.error);
  }
}

TEST(DynamicVendorDataMakeTest, RefusesANameGivenTwice) {
  http::Metrics metrics;
  DynamicVendorDataOptions o;
  o.targets = {{"a", "http://127.0.0.1:1/"}, {"a", "http://127.0.0.1:2/"}};
  auto made = DynamicVendorData::Make(o, metrics);
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().message,
            "vendor data target a@http://127.0.0.1:2/: the name a is given twice");
}

}  // namespace
}  // namespace metastack::api
