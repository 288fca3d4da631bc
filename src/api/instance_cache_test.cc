// The instance cache's one subtle rule: a load that a change overtook is served but never kept,
// so a stale document cannot outlive the change that made it stale.
#include "api/instance_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "api/service.h"
#include "core/signing.h"
#include "core/testdata.h"
#include "store/forwarding_store.h"
#include "store/memory_store.h"

namespace metastack::api {
namespace {

constexpr char kFirst[] = "b65cee2f-8c69-4aeb-be2f-f79742548fc2";
constexpr char kSecond[] = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
constexpr char kCacheSecret[] = "s3cret";

core::Instance Instance(const std::string& uuid = kFirst, const std::string& hostname = "web-01") {
  core::Instance inst = core::testing::InstanceWithPort(uuid, "net-a", "10.0.0.5");
  inst.hostname = hostname;
  return inst;
}

store::InstanceRecord Record(const std::string& uuid = kFirst) { return {Instance(uuid), 1}; }

store::Change InstanceChange(const std::string& uuid) {
  return {2, store::Change::Kind::kInstance, uuid, false};
}

TEST(InstanceCacheTest, ALoadNothingOvertookIsKept) {
  InstanceCache cache(10);
  EXPECT_EQ(cache.Get(kFirst), nullptr);
  auto put = cache.Put(Record(), cache.Epoch());
  ASSERT_NE(put, nullptr);
  EXPECT_EQ(cache.Get(kFirst), put);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
}

// Whatever the feed announces while a load is in flight (even a change to another object:
// the cache cannot tell what a load depended on), the load's result is served, not kept.
TEST(InstanceCacheTest, ALoadAnyChangeOvertookIsServedButNotKept) {
  struct Case {
    const char* name;
    std::function<void(InstanceCache&)> overtake;
  } cases[] = {
      {"this instance changed", [](InstanceCache& c) { c.Invalidate(InstanceChange(kFirst)); }},
      {"another instance changed", [](InstanceCache& c) { c.Invalidate(InstanceChange(kSecond)); }},
      {"a network changed",
       [](InstanceCache& c) {
         c.Invalidate({2, store::Change::Kind::kNetwork, "net-a", false});
       }},
      {"flush all", [](InstanceCache& c) { c.Invalidate(InstanceChange("")); }},
      {"dropped (a password was set)", [](InstanceCache& c) { c.Drop(kFirst); }},
  };
  for (const Case& c : cases) {
    InstanceCache cache(10);
    uint64_t epoch = cache.Epoch();
    c.overtake(cache);
    auto served = cache.Put(Record(), epoch);
    ASSERT_NE(served, nullptr) << c.name;
    EXPECT_EQ(served->instance().uuid, kFirst) << c.name;
    EXPECT_EQ(cache.Get(kFirst), nullptr) << c.name;
    EXPECT_EQ(cache.size(), 0u) << c.name;
  }
}

TEST(InstanceCacheTest, AChangeDropsOnlyWhatItNames) {
  InstanceCache cache(10);
  cache.Put(Record(kFirst), cache.Epoch());
  cache.Put(Record(kSecond), cache.Epoch());
  cache.Invalidate({2, store::Change::Kind::kNetwork, kFirst, false});  // not an instance
  EXPECT_EQ(cache.size(), 2u);
  cache.Invalidate(InstanceChange(kSecond));
  EXPECT_NE(cache.Get(kFirst), nullptr);
  EXPECT_EQ(cache.Get(kSecond), nullptr);
  cache.Invalidate(InstanceChange(""));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(InstanceCacheTest, HoldsAtMostItsLimit) {
  InstanceCache cache(1);
  cache.Put(Record(kFirst), cache.Epoch());
  cache.Put(Record(kSecond), cache.Epoch());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(cache.Get(kSecond), nullptr);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(InstanceCacheTest, ALimitOfZeroKeepsNothing) {
  InstanceCache cache(0);
  EXPECT_NE(cache.Put(Record(kFirst), cache.Epoch()), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Get(kFirst), nullptr);
}

std::string NumberedUuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", i);
  return buf;
}

// CLOCK: an instance asked for between the loads of instances asked for once each (a scan, a
// crawler walking every instance) keeps its place; the scan evicts only its own kind.
TEST(InstanceCacheTest, AHotInstanceSurvivesAScanOfColdOnes) {
  constexpr int kLimit = 8;
  InstanceCache cache(kLimit);
  // Full before the hot one comes: it is then the newest entry, not the oldest.
  for (int i = 0; i < kLimit; ++i) cache.Put(Record(NumberedUuid(10000 + i)), cache.Epoch());
  cache.Put(Record(kFirst), cache.Epoch());
  ASSERT_NE(cache.Get(kFirst), nullptr);
  for (int i = 0; i < 1000; ++i) {
    cache.Put(Record(NumberedUuid(i)), cache.Epoch());
    if (i % (kLimit / 2) == 0) ASSERT_NE(cache.Get(kFirst), nullptr) << "evicted at " << i;
    ASSERT_LE(cache.size(), size_t{kLimit});
  }
  EXPECT_NE(cache.Get(kFirst), nullptr);
  EXPECT_EQ(cache.size(), size_t{kLimit});
  EXPECT_EQ(cache.evictions(), 1000u + 1);
  // The most recent cold load is still there (the hand evicts the oldest unreferenced first).
  EXPECT_NE(cache.Get(NumberedUuid(999)), nullptr);
  EXPECT_EQ(cache.Get(NumberedUuid(0)), nullptr);
}

// An instance nobody asks for again is evicted in its turn, however early it came: a hit is
// what keeps an entry, not its age.
TEST(InstanceCacheTest, AnInstanceNotAskedForAgainIsEvictedInItsTurn) {
  InstanceCache cache(2);
  cache.Put(Record(kFirst), cache.Epoch());
  cache.Put(Record(kSecond), cache.Epoch());
  ASSERT_NE(cache.Get(kSecond), nullptr);
  cache.Put(Record(NumberedUuid(1)), cache.Epoch());  // kFirst unreferenced: it goes
  EXPECT_EQ(cache.Get(kFirst), nullptr);
  EXPECT_NE(cache.Get(kSecond), nullptr);
  EXPECT_NE(cache.Get(NumberedUuid(1)), nullptr);
  EXPECT_EQ(cache.evictions(), 1u);
}

// When every entry was hit since the hand last passed, a load does not sweep them all under the
// lock: after clearing 256 bits it evicts where the hand stands.
TEST(InstanceCacheTest, ASweepClearsABoundedNumberOfBits) {
  constexpr int kLimit = 1000;
  InstanceCache cache(kLimit);
  for (int i = 0; i < kLimit; ++i) cache.Put(Record(NumberedUuid(i)), cache.Epoch());
  for (int i = 0; i < kLimit; ++i) ASSERT_NE(cache.Get(NumberedUuid(i)), nullptr);
  cache.Put(Record(kFirst), cache.Epoch());
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_EQ(cache.Get(NumberedUuid(256)), nullptr);  // slots 0..255 had their bits cleared
  for (int i = 0; i < kLimit; ++i)
    if (i != 256) ASSERT_NE(cache.Get(NumberedUuid(i)), nullptr) << i;
}

// Room a change or a Drop made is used before anything is evicted, and loading an instance the
// cache already holds (two misses at once) replaces it without evicting another.
TEST(InstanceCacheTest, FreedRoomIsUsedBeforeEvicting) {
  InstanceCache cache(2);
  cache.Put(Record(kFirst), cache.Epoch());
  cache.Put(Record(kSecond), cache.Epoch());
  cache.Invalidate(InstanceChange(kFirst));
  cache.Put(Record(NumberedUuid(1)), cache.Epoch());
  auto again = cache.Put(Record(kSecond), cache.Epoch());
  EXPECT_EQ(cache.evictions(), 0u);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get(kSecond), again);
  cache.Drop(kSecond);
  cache.Put(Record(kFirst), cache.Epoch());
  EXPECT_EQ(cache.evictions(), 0u);
  EXPECT_NE(cache.Get(NumberedUuid(1)), nullptr);
  EXPECT_NE(cache.Get(kFirst), nullptr);
}

// Any sequence of loads, hits, changes, drops and flushes keeps the bound; what a change or a
// drop removed is gone, and what a load nothing overtook put is there.
TEST(InstanceCacheTest, TheBoundHoldsUnderAnyMix) {
  constexpr size_t kLimit = 16;
  InstanceCache cache(kLimit);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int step = 0; step < 5000; ++step) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::string uuid = NumberedUuid(static_cast<int>(x % 40));
    switch ((x >> 32) % 8) {
      case 0:
        cache.Invalidate(InstanceChange(uuid));
        EXPECT_EQ(cache.Get(uuid), nullptr);
        break;
      case 1:
        cache.Drop(uuid);
        EXPECT_EQ(cache.Get(uuid), nullptr);
        break;
      case 2:
        if (step % 500 == 0) {
          cache.Invalidate(InstanceChange(""));
          EXPECT_EQ(cache.size(), 0u);
        }
        break;
      case 3: {  // a load a change overtook: served, not kept
        uint64_t epoch = cache.Epoch();
        cache.Invalidate(InstanceChange(uuid));
        cache.Put(Record(uuid), epoch);
        EXPECT_EQ(cache.Get(uuid), nullptr);
        break;
      }
      default:
        if (!cache.Get(uuid)) {
          auto put = cache.Put(Record(uuid), cache.Epoch());
          EXPECT_EQ(cache.Get(uuid), put);
        }
    }
    ASSERT_LE(cache.size(), kLimit);
  }
  EXPECT_GT(cache.evictions(), 0u);
}

// A full cache that a change overtakes mid-load neither keeps the load nor evicts for it.
TEST(InstanceCacheTest, AnOvertakenLoadEvictsNothing) {
  InstanceCache cache(1);
  cache.Put(Record(kFirst), cache.Epoch());
  uint64_t epoch = cache.Epoch();
  cache.Invalidate({2, store::Change::Kind::kNetwork, "net-a", false});
  cache.Put(Record(kSecond), epoch);
  EXPECT_NE(cache.Get(kFirst), nullptr);
  EXPECT_EQ(cache.Get(kSecond), nullptr);
  EXPECT_EQ(cache.evictions(), 0u);
}

// A store whose instance loads, once armed, read the instance and then wait for the test's word
// before returning it: the test publishes a change in between, exactly the race of a change
// committed while a cache miss is being loaded.
class HeldLoadStore : public store::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  // The next load signals `read` once it has read, and returns when `release` is set.
  void HoldNextLoad() { held_ = true; }
  std::future<void> read() { return read_.get_future(); }
  // Lets the held load return (once; later calls do nothing).
  void Release() {
    std::call_once(released_, [this] { release_.set_value(); });
  }

  Result<store::InstanceRecord> GetInstance(std::string_view uuid) override {
    auto record = inner().GetInstance(uuid);
    if (held_.exchange(false)) {
      read_.set_value();
      release_.get_future().wait();
    }
    return record;
  }

 private:
  std::atomic<bool> held_{false};
  std::promise<void> read_, release_;
  std::once_flag released_;
};

class CacheRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(inner_->CreateNetwork({"net-a", "a", "proj-a", std::nullopt, 0, ""}));
    ASSERT_TRUE(inner_->CreateInstance(Instance()));
    ApiOptions options;
    options.shared_secret = kCacheSecret;
    api_ = std::make_unique<MetadataApi>(held_, pool_, options, metrics_);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    held_.Release();  // a test that failed while a load was held must not hang here
    work_.reset();
    thread_.join();
    // A worker may still be leaving a job it has just handed back (holding a copy of the
    // io_context's executor): it must be done before the io_context is destroyed.
    pool_.join();
  }

  // Starts a signed request for the instance's meta_data.json; the future holds the answer.
  std::future<http::Response> MetaData() {
    auto req = std::make_shared<http::Request>();
    req->message = bhttp::request<bhttp::string_body>(bhttp::verb::get,
                                                      "/openstack/latest/meta_data.json", 11);
    req->message.set("X-Instance-ID", kFirst);
    req->message.set("X-Tenant-ID", "proj-a");
    req->message.set("X-Instance-ID-Signature", core::SignInstanceId(kCacheSecret, kFirst));
    req->message.set("X-Forwarded-For", "10.0.0.5");
    req->peer.address = "127.0.0.1";
    return asio::co_spawn(
        ioc_,
        [this, req]() -> asio::awaitable<http::Response> {
          co_return co_await api_->Handle(*req, Identification::kSigned);
        },
        asio::use_future);
  }
  static std::string Hostname(const http::Response& r) {
    return nlohmann::json::parse(r.body).value("hostname", "(none)");
  }

  asio::thread_pool pool_{2};
  http::Metrics metrics_;
  std::unique_ptr<store::Store> inner_ = store::NewMemoryStore();
  HeldLoadStore held_{*inner_};
  std::unique_ptr<MetadataApi> api_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::thread thread_;
};

TEST_F(CacheRaceTest, AChangeCommittedDuringAMissIsNotHiddenByTheMiss) {
  held_.HoldNextLoad();
  std::future<void> read = held_.read();
  std::future<http::Response> first = MetaData();
  read.wait();  // the miss has read web-01 and not yet returned
  ASSERT_TRUE(inner_->ReplaceInstance(Instance(kFirst, "web-02"), std::nullopt));
  held_.Release();
  http::Response overtaken = first.get();
  ASSERT_EQ(overtaken.status, 200u) << overtaken.body;
  EXPECT_EQ(Hostname(overtaken), "web-01.novalocal");  // what it read, served: nothing newer was
  EXPECT_EQ(api_->cache().size(), 0u);                 // but not kept
  http::Response next = MetaData().get();
  ASSERT_EQ(next.status, 200u) << next.body;
  EXPECT_EQ(Hostname(next), "web-02.novalocal");
  EXPECT_EQ(api_->cache().size(), 1u);  // a load nothing overtook is kept
  EXPECT_EQ(Hostname(MetaData().get()), "web-02.novalocal");
  EXPECT_EQ(api_->cache().hits(), 1u);
}

}  // namespace
}  // namespace metastack::api
