// The connection limits of Server (see ServerLimits in server.h): per (listener, source address),
// per listener, the fair share of the total, and their counters' release.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <ranges>
#include <thread>

#include "http/server.h"
#include "http/test_client.h"

namespace metastack::http {
namespace {

using testing::RawClient;
using namespace std::chrono_literals;

asio::awaitable<Response> Ok(Request& req) {
  Response r;
  r.content_type = "text/plain";
  r.body = "served " + std::string(req.message.target());
  co_return r;
}

// Two guest-facing listeners on 127.0.0.1, so every client has the same source address on both;
// connections on the io_context's strands or on an IoPool.
class ListenerLimitTest : public ::testing::TestWithParam<bool> {
 protected:
  void Start(ServerLimits limits) {
    if (GetParam()) pool_ = std::make_unique<IoPool>(2);
    server_ = std::make_unique<Server>(ioc_, limits, pool_.get(), &metrics_);
    for (auto* l : {&a_, &b_}) {
      auto ep = server_->ListenTcp("127.0.0.1", 0, Ok, &l->id);
      ASSERT_TRUE(ep) << ep.error().ToString();
      l->port = ep->port();
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    clients_.clear();
    if (server_) asio::post(ioc_, [this] { server_->Stop(); });
    if (thread_.joinable()) thread_.join();
    if (pool_) pool_->Stop();
    pool_.reset();
  }

  struct Listener {
    ListenerId id = 0;
    uint16_t port = 0;
  };

  // Opens a connection and makes one request on it: true if it was served (and is then held
  // open), false if the server closed it unanswered.
  bool Hold(const Listener& l) {
    RawClient c = RawClient::Tcp(l.port);
    if (!c.Send("GET /x HTTP/1.1\r\n\r\n")) return false;
    std::string r = c.ReadResponse();
    if (r.find("served /x") == std::string::npos) return false;
    clients_.push_back(std::move(c));
    return true;
  }

  // Waits (bounded) until the server's counters read `want`: sessions release them on their
  // own threads after the client's close reaches them.
  void ExpectCounts(ConnectionCounts want) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    ConnectionCounts c = server_->counts();
    while (
        (c.open != want.open || c.listeners != want.listeners || c.addresses != want.addresses) &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
      c = server_->counts();
    }
    EXPECT_EQ(c.open, want.open);
    EXPECT_EQ(c.listeners, want.listeners);
    EXPECT_EQ(c.addresses, want.addresses);
  }

  std::string Refused(Refusal r) {
    for (const auto& line : std::views::split(metrics_.Render(), '\n')) {
      std::string_view l(line.begin(), line.end());
      std::string prefix = "metastack_http_connections_refused_total{limit=\"" +
                           std::string(RefusalName(r)) + "\"} ";
      if (l.starts_with(prefix)) return std::string(l.substr(prefix.size()));
    }
    return "absent";
  }

  Metrics metrics_;
  std::unique_ptr<IoPool> pool_;
  asio::io_context ioc_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Listener a_, b_;
  std::vector<RawClient> clients_;
};

TEST_P(ListenerLimitTest, AnAddressFullOnOneListenerIsServedOnAnother) {
  ServerLimits l;
  l.max_connections_per_address = 3;
  Start(l);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Hold(a_)) << i;
  EXPECT_FALSE(Hold(a_));                                  // the guest behind A is at its limit...
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Hold(b_)) << i;  // ...the same address behind B is not
  EXPECT_FALSE(Hold(b_));
  EXPECT_EQ(server_->stats().RefusedBy(Refusal::kAddress), 2u);
  EXPECT_EQ(server_->stats().refused.load(), 2u);
  EXPECT_EQ(Refused(Refusal::kAddress), "2");
  EXPECT_EQ(Refused(Refusal::kShare), "0");
}

TEST_P(ListenerLimitTest, OneListenerCannotTakeMoreThanItsCap) {
  ServerLimits l;
  l.max_connections_per_listener = 2;
  Start(l);
  ASSERT_TRUE(Hold(a_));
  ASSERT_TRUE(Hold(a_));
  EXPECT_FALSE(Hold(a_));
  EXPECT_TRUE(Hold(b_));
  EXPECT_EQ(server_->stats().RefusedBy(Refusal::kListener), 1u);
  EXPECT_EQ(Refused(Refusal::kListener), "1");
}

TEST_P(ListenerLimitTest, TheReserveIsLeftToListenersBelowTheirShare) {
  ServerLimits l;
  l.max_connections = 6;
  l.reserved_connections = 2;  // two listeners: a share of 3 each
  Start(l);
  // A hoards: past its share of 3 it may only grow while the total is below 6 - 2.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Hold(a_)) << i;
  EXPECT_FALSE(Hold(a_));
  EXPECT_EQ(server_->stats().RefusedBy(Refusal::kShare), 1u);
  // B, below its share, gets the reserve; past it the total itself is full.
  EXPECT_TRUE(Hold(b_));
  EXPECT_TRUE(Hold(b_));
  EXPECT_FALSE(Hold(b_));
  EXPECT_EQ(server_->stats().RefusedBy(Refusal::kTotal), 1u);
  EXPECT_EQ(Refused(Refusal::kShare), "1");
  EXPECT_EQ(Refused(Refusal::kTotal), "1");
}

TEST_P(ListenerLimitTest, ClosingAListenerReleasesItsShareAndItsCounters) {
  ServerLimits l;
  l.max_connections = 4;
  l.reserved_connections = 2;  // shares of 2 while both listeners are open
  Start(l);
  ASSERT_TRUE(Hold(a_));
  ASSERT_TRUE(Hold(b_));
  ASSERT_TRUE(Hold(b_));
  EXPECT_FALSE(Hold(b_));  // at its share of 2 with the total at 4 - 2
  ExpectCounts({3, 2, 2});
  std::promise<void> closed;
  asio::post(ioc_, [&] {
    server_->CloseListener(a_.id);
    closed.set_value();
  });
  closed.get_future().wait();
  // A's connection stays open; A's counters stay until it ends, but A no longer takes a share.
  ExpectCounts({3, 2, 2});
  EXPECT_TRUE(Hold(b_));             // B's share is now the whole total
  clients_.erase(clients_.begin());  // A's one connection
  ExpectCounts({3, 1, 1});
  clients_.clear();
  ExpectCounts({0, 1, 0});
}

INSTANTIATE_TEST_SUITE_P(Connections, ListenerLimitTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "IoPool" : "Strands"; });

TEST(ServerLimitTest, UnixListenersAreLimitedByTheTotalAlone) {
  asio::io_context ioc;
  ServerLimits l;
  l.max_connections = 3;
  l.max_connections_per_listener = 1;
  Server server(ioc, l);
  std::string path =
      ::testing::TempDir() + "/metastack-limits-" + std::to_string(::getpid()) + ".sock";
  ASSERT_TRUE(server.ListenUnix(path, 0600, Ok));
  std::thread t([&] { ioc.run(); });
  std::vector<RawClient> held;
  for (int i = 0; i < 4; ++i) {
    RawClient c = RawClient::Unix(path);
    // A refused connection is closed unanswered, possibly before the request is written.
    bool served = c.Send("GET /u HTTP/1.1\r\n\r\n") &&
                  c.ReadResponse().find("served /u") != std::string::npos;
    EXPECT_EQ(served, i < 3) << i;
    held.push_back(std::move(c));
  }
  EXPECT_EQ(server.stats().RefusedBy(Refusal::kTotal), 1u);
  EXPECT_EQ(server.stats().RefusedBy(Refusal::kListener), 0u);
  held.clear();
  asio::post(ioc, [&] { server.Stop(); });
  t.join();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace metastack::http
