// The API's GCE-style extensions over real sockets and the memory store: ETag and If-None-Match,
// wait_for_change (woken by the change feed, for its instance only; timeouts; bounds; drain),
// and whole-tree reads.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "api/service.h"
#include "core/signing.h"
#include "http/test_client.h"
#include "store/memory_store.h"

namespace metastack::api {
namespace {

using http::testing::RawClient;
using http::testing::WaitUntil;

constexpr char kWatchSecret[] = "watch-secret";
constexpr char kVmA[] = "0a0a0a0a-0000-4000-8000-00000000000a";
constexpr char kVmB[] = "0b0b0b0b-0000-4000-8000-00000000000b";
constexpr char kTenant[] = "proj-w";

core::Instance Vm(const std::string& uuid, const std::string& ip, const std::string& hostname,
                  const std::string& user_data = "#cloud-config\n") {
  core::Json doc = {{"uuid", uuid},
                    {"hostname", hostname},
                    {"project_id", kTenant},
                    {"user_data", user_data},
                    {"ports",
                     {{{"id", "port-" + uuid},
                       {"mac", "fa:16:3e:00:00:0" + uuid.substr(1, 1)},
                       {"network_id", "net-w"},
                       {"subnets", {{{"cidr", "10.0.0.0/24"}, {"ip_address", ip}}}}}}}};
  return *core::ParseInstanceJson(doc);
}

using Answer = http::testing::RawReply;

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    ASSERT_TRUE(store_->CreateNetwork({"net-w", "w", kTenant, std::nullopt, 0, ""}));
    ASSERT_TRUE(store_->CreateInstance(Vm(kVmA, "10.0.0.5", "vm-a")));
    ASSERT_TRUE(store_->CreateInstance(Vm(kVmB, "10.0.0.6", "vm-b")));
    ApiOptions options;
    options.shared_secret = kWatchSecret;
    options.rate_limit = {0, 0};
    options.watch.per_instance = 2;
    options.watch.total = 3;
    api_ = std::make_unique<MetadataApi>(*store_, pool_, options, metrics_);
    // Deadlines far below the waits: the server's own never cut a waiting answer.
    http::ServerLimits limits;
    limits.request_timeout = limits.idle_timeout = limits.write_timeout =
        std::chrono::milliseconds(300);
    server_ = std::make_unique<http::Server>(ioc_, limits);
    port_ = server_->ListenTcp("127.0.0.1", 0, api_->Handler(Identification::kSigned))->port();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    api_->Drain();
    asio::post(ioc_, [this] { server_->Stop(); });
    thread_.join();
    // A worker may still be leaving a job it has just handed back (holding a copy of the
    // io_context's executor): it must be done before the io_context is destroyed.
    pool_.join();
  }

  Answer Get(const std::string& target, const std::string& uuid = kVmA,
             const std::string& extra = "") {
    std::string ip = uuid == kVmA ? "10.0.0.5" : "10.0.0.6";
    RawClient c = RawClient::Tcp(port_);
    c.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\nX-Instance-ID: " + uuid +
           "\r\nX-Tenant-ID: " + kTenant +
           "\r\nX-Instance-ID-Signature: " + core::SignInstanceId(kWatchSecret, uuid) +
           "\r\nX-Forwarded-For: " + ip + "\r\n" + extra + "\r\n");
    return http::testing::ParseRawReply(c.ReadResponse());
  }
  // A request that waits: its answer, once the API holds `holding` waiters.
  std::future<Answer> Waiting(const std::string& target, size_t holding,
                              const std::string& uuid = kVmA) {
    auto f = std::async(std::launch::async, [this, target, uuid] { return Get(target, uuid); });
    EXPECT_TRUE(WaitUntil([&] { return api_->waiting() == holding; }));
    return f;
  }
  void Rename(const std::string& uuid, const std::string& ip, const std::string& hostname,
              const std::string& user_data = "#cloud-config\n") {
    ASSERT_TRUE(store_->ReplaceInstance(Vm(uuid, ip, hostname, user_data), std::nullopt));
  }
  bool HasSample(const std::string& sample) {
    return metrics_.Render().find(sample + "\n") != std::string::npos;
  }

  asio::thread_pool pool_{2};
  http::Metrics metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<MetadataApi> api_;
  asio::io_context ioc_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(WatchTest, EveryAnswerHasAnETagThatFollowsItsContent) {
  Answer a = Get("/openstack/latest/meta_data.json");
  Answer b = Get("/openstack/latest/meta_data.json");
  ASSERT_EQ(a.status, 200u);
  EXPECT_NE(a.body, b.body);  // a fresh random_seed in each
  EXPECT_EQ(a.Field("ETag"), b.Field("ETag"));
  EXPECT_EQ(a.Field("ETag").size(), 16u);
  EXPECT_EQ(a.Field("ETag").find_first_not_of("0123456789abcdef"), std::string::npos);
  std::string hostname = Get("/latest/meta-data/hostname").Field("ETag");
  std::string user_data = Get("/latest/user-data").Field("ETag");
  EXPECT_NE(hostname, "");
  EXPECT_NE(hostname, user_data);
  EXPECT_NE(Get("/").Field("ETag"), "");
  Rename(kVmA, "10.0.0.5", "vm-a2");
  EXPECT_NE(Get("/latest/meta-data/hostname").Field("ETag"), hostname);
  EXPECT_NE(Get("/openstack/latest/meta_data.json").Field("ETag"), a.Field("ETag"));
  EXPECT_EQ(Get("/latest/user-data").Field("ETag"), user_data);
  EXPECT_EQ(Get("/latest/meta-data/no-such").Field("ETag"), "");  // errors have none
}

TEST_F(WatchTest, IfNoneMatchGetsA304WithoutBody) {
  std::string etag = Get("/latest/meta-data/hostname").Field("ETag");
  for (std::string field : {etag, "\"" + etag + "\"", "W/\"" + etag + "\"", "\"x\", " + etag}) {
    Answer a = Get("/latest/meta-data/hostname", kVmA, "If-None-Match: " + field + "\r\n");
    EXPECT_EQ(a.status, 304u) << field;
    EXPECT_EQ(a.Field("ETag"), etag);
    EXPECT_EQ(a.Field("Content-Length"), "");
    EXPECT_EQ(a.body, "");
  }
  Answer other = Get("/latest/meta-data/hostname", kVmA, "If-None-Match: \"0000\"\r\n");
  EXPECT_EQ(other.status, 200u);
  EXPECT_EQ(other.body, "vm-a.novalocal");
}

TEST_F(WatchTest, ADifferentLastEtagIsAnsweredAtOnce) {
  // GCE's guest agent starts with last_etag=NONE.
  Answer a = Get("/latest/meta-data/hostname?wait_for_change=true&last_etag=NONE");
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.body, "vm-a.novalocal");
  EXPECT_EQ(api_->waiting(), 0u);
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"changed\"} 1"));
}

TEST_F(WatchTest, AnEditOfTheInstanceWakesItsWaiter) {
  std::string etag = Get("/latest/meta-data/hostname").Field("ETag");
  auto waiting = Waiting("/latest/meta-data/hostname?wait_for_change=true&last_etag=" + etag, 1);
  Rename(kVmA, "10.0.0.5", "vm-a2");
  Answer a = waiting.get();
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.body, "vm-a2.novalocal");
  EXPECT_NE(a.Field("ETag"), etag);
  EXPECT_EQ(a.Field("ETag"), Get("/latest/meta-data/hostname").Field("ETag"));
  EXPECT_EQ(api_->waiting(), 0u);
}

TEST_F(WatchTest, WithoutLastEtagTheNextChangeAnswers) {
  auto waiting = Waiting("/openstack/latest/meta_data.json?wait_for_change=true", 1);
  Rename(kVmA, "10.0.0.5", "vm-a3");
  Answer a = waiting.get();
  EXPECT_EQ(a.status, 200u);
  EXPECT_NE(a.body.find("\"hostname\": \"vm-a3.novalocal\""), std::string::npos) << a.body;
}

TEST_F(WatchTest, TimesOutWithTheSameETagWhenNothingChanges) {
  std::string etag = Get("/latest/meta-data/hostname").Field("ETag");
  Answer a = Get("/latest/meta-data/hostname?wait_for_change=true&timeout_sec=1&last_etag=" + etag);
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.Field("ETag"), etag);
  EXPECT_EQ(a.body, "vm-a.novalocal");
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"timeout\"} 1"));
}

TEST_F(WatchTest, AnEditThatLeavesTheAnswerAsItWasKeepsItWaiting) {
  std::string etag = Get("/latest/meta-data/hostname").Field("ETag");
  auto waiting =
      Waiting("/latest/meta-data/hostname?wait_for_change=true&timeout_sec=1&last_etag=" + etag, 1);
  Rename(kVmA, "10.0.0.5", "vm-a", "#cloud-config\nother: 1\n");  // user data only
  Answer a = waiting.get();
  EXPECT_EQ(api_->wakeups(), 1u);  // woken, rendered again, and kept waiting
  EXPECT_EQ(a.Field("ETag"), etag);
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"timeout\"} 1"));
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"changed\"} 0"));
}

TEST_F(WatchTest, OnlyTheEditedInstancesWaitersWake) {
  std::string a_tag = Get("/latest/meta-data/hostname").Field("ETag");
  std::string b_tag = Get("/latest/meta-data/hostname", kVmB).Field("ETag");
  auto a = Waiting(
      "/latest/meta-data/hostname?wait_for_change=true&timeout_sec=2&last_etag=" + a_tag, 1);
  auto b = Waiting(
      "/latest/meta-data/hostname?wait_for_change=true&timeout_sec=30&last_etag=" + b_tag, 2, kVmB);
  Rename(kVmB, "10.0.0.6", "vm-b2");
  EXPECT_EQ(b.get().body, "vm-b2.novalocal");
  EXPECT_EQ(api_->wakeups(), 1u);  // B's waiter alone: A's was never woken
  Answer a_answer = a.get();
  EXPECT_EQ(a_answer.Field("ETag"), a_tag);
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"changed\"} 1"));
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"timeout\"} 1"));
}

TEST_F(WatchTest, WaitersAreBoundedPerInstanceAndInAll) {
  const std::string wait = "/latest/meta-data/hostname?wait_for_change=true&timeout_sec=30";
  auto a1 = Waiting(wait, 1);
  auto a2 = Waiting(wait, 2);
  Answer over = Get(wait);  // a third of instance A (2 per instance)
  EXPECT_EQ(over.status, 429u);
  EXPECT_EQ(over.Field("Retry-After"), "5");
  EXPECT_EQ(over.body,
            "429 Too Many Requests\n\nThe client has sent too many requests in a given amount of "
            "time.\n\n   ");
  auto b1 = Waiting(wait, 3, kVmB);
  EXPECT_EQ(Get(wait, kVmB).status, 429u);  // the fourth in all (3 in all)
  EXPECT_TRUE(HasSample("metastack_api_watch_refused_total{limit=\"instance\"} 1"));
  EXPECT_TRUE(HasSample("metastack_api_watch_refused_total{limit=\"total\"} 1"));
  // Draining answers every waiter with what it has now.
  api_->Drain();
  for (auto* f : {&a1, &a2, &b1}) {
    Answer a = f->get();
    EXPECT_EQ(a.status, 200u);
    EXPECT_NE(a.body, "");
  }
  EXPECT_EQ(api_->waiting(), 0u);
  EXPECT_TRUE(HasSample("metastack_api_watch_answers_total{outcome=\"draining\"} 3"));
  // Once draining, a wait is answered at once.
  EXPECT_EQ(Get(wait).status, 200u);
}

TEST_F(WatchTest, ADeletedInstanceAnswers404) {
  auto waiting = Waiting("/latest/meta-data/hostname?wait_for_change=true", 1);
  ASSERT_TRUE(store_->DeleteInstance(kVmA));
  EXPECT_EQ(waiting.get().status, 404u);
}

TEST_F(WatchTest, BadQueriesAre400) {
  Answer alt = Get("/latest/meta-data/?alt=xml");
  EXPECT_EQ(alt.status, 400u);
  EXPECT_EQ(alt.body, "400 Bad Request\n\nalt must be json or text\n\n   ");
  for (std::string t : {"0", "-1", "abc", "1.5", ""}) {
    Answer a = Get("/latest/meta-data/?wait_for_change=true&timeout_sec=" + t);
    EXPECT_EQ(a.status, 400u) << t;
    EXPECT_EQ(a.body,
              "400 Bad Request\n\ntimeout_sec must be a whole number of seconds, 1 or more\n\n   ");
  }
  // Unknown parameters are ignored, as Nova ignores every query.
  EXPECT_EQ(Get("/latest/meta-data/hostname?x=1&recursive=false&wait_for_change=false").body,
            "vm-a.novalocal");
}

TEST_F(WatchTest, WholeTreesThroughTheApi) {
  Answer a = Get("/openstack/latest?recursive=true");
  Answer b = Get("/openstack/latest?recursive=true");
  ASSERT_EQ(a.status, 200u);
  EXPECT_EQ(a.Field("Content-Type"), "application/json");
  auto j = nlohmann::json::parse(a.body);
  EXPECT_EQ(j["meta_data.json"]["uuid"], kVmA);
  EXPECT_EQ(j["user_data"], "#cloud-config\n");
  // Each embeds its own fresh seed; the tag leaves the seed out.
  EXPECT_NE(j["meta_data.json"]["random_seed"],
            nlohmann::json::parse(b.body)["meta_data.json"]["random_seed"]);
  EXPECT_EQ(a.Field("ETag"), b.Field("ETag"));
  EXPECT_EQ(Get("/latest/meta-data/placement?recursive=true&alt=text").body,
            "availability-zone None\n");
  // A whole-tree wait: a change anywhere in the tree wakes it.
  auto waiting = Waiting(
      "/openstack/latest?recursive=true&wait_for_change=true&last_etag=" + a.Field("ETag"), 1);
  Rename(kVmA, "10.0.0.5", "vm-a", "#cloud-config\nchanged: 1\n");
  EXPECT_EQ(nlohmann::json::parse(waiting.get().body)["user_data"], "#cloud-config\nchanged: 1\n");
}

}  // namespace
}  // namespace metastack::api
