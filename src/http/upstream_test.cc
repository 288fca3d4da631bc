#include "http/upstream.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <thread>

#include "http/server.h"

namespace metastack::http {
namespace {

using namespace std::chrono_literals;

// Answers after a short pause, so concurrent requests each hold a connection of their own.
asio::awaitable<Response> SlowOk(Request& req) {
  asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
  co_await t.async_wait(asio::use_awaitable);
  Response r;
  r.content_type = "text/plain";
  r.body = "ok " + std::string(req.message.target());
  co_return r;
}

class UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/metastack-upstream-" + std::to_string(::getpid()) + ".sock";
    StartServer();
    upstream_ = *MakeUpstream("unix:" + path_, {});
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    Post([this] { server_->Stop(); });
    work_.reset();
    thread_.join();
    std::filesystem::remove(path_);
  }
  void StartServer() {
    server_ = std::make_unique<Server>(ioc_, ServerLimits{});
    ASSERT_TRUE(server_->ListenUnix(path_, 0600, SlowOk));
  }
  void Post(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(ioc_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  // Sends `n` requests at once and returns each one's status (0 for a failure).
  std::vector<unsigned> SendConcurrently(int n) {
    std::vector<std::future<unsigned>> futures;
    for (int i = 0; i < n; ++i) {
      UpstreamRequest req{bhttp::verb::get, "/" + std::to_string(i), 11};
      futures.push_back(asio::co_spawn(
          ioc_,
          [up = upstream_, req]() -> asio::awaitable<unsigned> {
            auto res = co_await up->Send(req);
            co_return res ? res->result_int() : 0u;
          },
          asio::use_future));
    }
    std::vector<unsigned> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::string path_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<Upstream> upstream_;
  std::thread thread_;
};

TEST(UpstreamRequestForTest, KeepsMethodAndTargetOnly) {
  for (auto [method, verb] : {std::pair<std::string, bhttp::verb>{"PUT", bhttp::verb::put},
                              {"FOO", bhttp::verb::unknown},
                              {"CONNECT", bhttp::verb::connect}}) {
    Request req;
    if (verb == bhttp::verb::unknown)
      req.message.method_string(method);
    else
      req.message.method(verb);
    req.message.target("/latest/api/token?x=1");
    req.message.version(10);
    req.message.set("X-Any", "v");
    req.message.body() = "body";
    UpstreamRequest out = UpstreamRequestFor(req);
    EXPECT_EQ(std::string(out.method_string()), method);
    EXPECT_EQ(out.method(), verb);
    EXPECT_EQ(std::string(out.target()), "/latest/api/token?x=1");
    EXPECT_EQ(out.version(), 11u);
    EXPECT_EQ(out.begin(), out.end());
    EXPECT_EQ(out.body(), "");
  }
}

TEST_F(UpstreamTest, ServesAfterTheUpstreamRestartsWithManyIdleConnections) {
  EXPECT_EQ(SendConcurrently(4), (std::vector<unsigned>{200, 200, 200, 200}));
  // The upstream restarts: every pooled keep-alive connection is now dead.
  Post([this] { server_->Stop(); });
  Post([] {});  // Stop posted each connection's close to this thread: they have now run
  Post([this] { StartServer(); });
  // The upstream is back, so no request may fail because of the pool's stale connections.
  EXPECT_EQ(SendConcurrently(1), (std::vector<unsigned>{200}));
  EXPECT_EQ(SendConcurrently(4), (std::vector<unsigned>{200, 200, 200, 200}));
}

TEST_F(UpstreamTest, DownIsUnavailableAndBackIsServed) {
  EXPECT_EQ(SendConcurrently(2), (std::vector<unsigned>{200, 200}));
  Post([this] { server_->Stop(); });
  std::filesystem::remove(path_);
  EXPECT_EQ(SendConcurrently(3), (std::vector<unsigned>{0, 0, 0}));
  Post([this] { StartServer(); });
  EXPECT_EQ(SendConcurrently(2), (std::vector<unsigned>{200, 200}));
}

// A waiting request (GCE's wait_for_change, http::HoldFor) is given its hold on top of the
// response timeout: the same slow answer times out without it and arrives with it.
TEST_F(UpstreamTest, AHoldExtendsTheResponseTimeout) {
  UpstreamOptions options;
  options.response_timeout = 10ms;  // SlowOk answers after 50 ms
  auto up = *MakeUpstream("unix:" + path_, options);
  auto send = [&](std::chrono::milliseconds hold) {
    return asio::co_spawn(
               ioc_,
               [up, hold]() -> asio::awaitable<std::string> {
                 auto res = co_await up->Send(UpstreamRequest{bhttp::verb::get, "/w", 11}, hold);
                 co_return res ? std::to_string(res->result_int())
                               : std::string(ErrorCodeName(res.error().code));
               },
               asio::use_future)
        .get();
  };
  EXPECT_EQ(send(0ms), "timeout");
  EXPECT_EQ(send(10s), "200");
}

}  // namespace
}  // namespace metastack::http
