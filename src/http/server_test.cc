#include "http/server.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <thread>

#include "http/test_client.h"

namespace metastack::http {
namespace {

using testing::RawClient;
using namespace std::chrono_literals;

// Echoes what it saw, so tests can check what reached the handler.
asio::awaitable<Response> Echo(Request& req) {
  Response r;
  r.content_type = "text/plain";
  if (req.message.target() == "/close") r.close = true;
  r.body = std::string(req.message.method_string()) + " " + std::string(req.message.target()) +
           " v" + std::to_string(req.message.version()) + " from=" + req.peer.address +
           " body=" + req.message.body();
  co_return r;
}

// Every case runs twice: connections on the listener's io_context (strands), and on an IoPool
// of single-threaded contexts.
class ServerTest : public ::testing::TestWithParam<bool> {
 protected:
  void Start(ServerLimits limits = {}) {
    if (GetParam()) pool_ = std::make_unique<IoPool>(2);
    server_ = std::make_unique<Server>(ioc_, limits, pool_.get());
    auto ep = server_->ListenTcp("127.0.0.1", 0, Echo);
    ASSERT_TRUE(ep) << ep.error().ToString();
    port_ = ep->port();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    if (server_) asio::post(ioc_, [this] { server_->Stop(); });
    if (thread_.joinable()) thread_.join();
    if (pool_) pool_->Stop();  // the server stopped every connection: the pool runs out
    pool_.reset();
  }
  // Stops the server and waits until every connection has ended on every thread, so that what
  // the connections counted is final.
  void StopAndDrain() {
    asio::post(ioc_, [this] { server_->Stop(); });
    thread_.join();
    if (pool_) {
      pool_->Stop();
      pool_->Join();
    }
  }

  std::unique_ptr<IoPool> pool_;
  asio::io_context ioc_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_P(ServerTest, KeepAliveServesSeveralRequests) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send("GET /a" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string r = c.ReadResponse();
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
    EXPECT_NE(r.find("GET /a" + std::to_string(i) + " v11 from=127.0.0.1"), std::string::npos);
    EXPECT_NE(r.find("Date: "), std::string::npos);
  }
}

TEST_P(ServerTest, Http10WithoutHostClosesAfterTheAnswer) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("GET /openstack HTTP/1.0\r\n\r\n"));
  std::string r = c.Read();
  EXPECT_TRUE(r.starts_with("HTTP/1.0 200 OK\r\n")) << r;
  EXPECT_NE(r.find("GET /openstack v10"), std::string::npos);
  EXPECT_TRUE(c.closed());
}

TEST_P(ServerTest, HeadHasLengthButNoBody) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string head = c.ReadResponse(/*head=*/true);
  // The length of "HEAD /x v11 from=127.0.0.1 body=", which is not sent.
  EXPECT_NE(head.find("Content-Length: 32\r\n"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
  ASSERT_TRUE(c.Send("GET /y HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string get = c.ReadResponse();
  EXPECT_TRUE(get.starts_with("HTTP/1.1 200 OK")) << get;  // nothing of the HEAD body between
  EXPECT_NE(get.find("GET /y"), std::string::npos);
}

TEST_P(ServerTest, PostBodyAndExpectContinue) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(
      c.Send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  std::string cont = c.Read(2000ms, 25);
  EXPECT_TRUE(cont.starts_with("HTTP/1.1 100 Continue\r\n")) << cont;
  ASSERT_TRUE(c.Send("hello"));
  EXPECT_NE(c.ReadResponse().find("body=hello"), std::string::npos);
}

TEST_P(ServerTest, OversizedHeadersAre431) {
  ServerLimits l;
  l.header_bytes = 1024;
  Start(l);
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n"));
  std::string r = c.Read();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 431 Request Header Fields Too Large")) << r;
  EXPECT_TRUE(c.closed());
}

TEST_P(ServerTest, OversizedBodyIs413) {
  ServerLimits l;
  l.body_bytes = 100;
  Start(l);
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b')));
  EXPECT_TRUE(c.Read().starts_with("HTTP/1.1 413 Payload Too Large"));
}

TEST_P(ServerTest, GarbageIs400) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("NOT HTTP AT ALL\r\n\r\n"));
  EXPECT_TRUE(c.Read().starts_with("HTTP/1.1 400 Bad Request"));
}

// As Nova's eventlet and Neutron's haproxy: request and header lines may end in LF alone.
TEST_P(ServerTest, BareLfLinesAreAccepted) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("GET /lf HTTP/1.1\nHost: x\nX-A: 1\n\n"));
  std::string r = c.ReadResponse();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
  EXPECT_TRUE(r.ends_with("GET /lf v11 from=127.0.0.1 body=")) << r;
  // Mixed endings, and a body that is passed on as sent (its LFs untouched).
  ASSERT_TRUE(c.Send("POST /mixed HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\na\nb\nc"));
  r = c.ReadResponse();
  EXPECT_TRUE(r.ends_with("POST /mixed v11 from=127.0.0.1 body=a\nb\nc")) << r;
}

// A head the client ends before its empty line is answered 400 at once, bare LF or not.
TEST_P(ServerTest, HeadCutShortIs400AtOnce) {
  ServerLimits l;
  l.request_timeout = 10s;
  Start(l);
  for (const char* partial : {"GET /latest/meta-data/host", "GET / HTTP/1.1\r\nHost: x\r\n",
                              "GET / HTTP/1.1\nHost: x\n"}) {
    RawClient c = RawClient::Tcp(port_);
    auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.Send(partial));
    c.ShutdownWrite();
    std::string r = c.Read();
    EXPECT_EQ(r.substr(0, r.find("\r\n")), "HTTP/1.1 400 Bad Request") << partial;
    EXPECT_TRUE(c.closed()) << partial;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << partial;
  }
}

TEST_P(ServerTest, BareCrIsRefused) {
  Start();
  for (const char* req : {"GET /cr HTTP/1.1\rHost: x\n\n", "GET /cr HTTP/1.1\nX-A: a\rb\n\n",
                          "GET /cr HTTP/1.1\nX-A: a\r\r\n\r\n"}) {
    RawClient c = RawClient::Tcp(port_);
    ASSERT_TRUE(c.Send(req));
    std::string r = c.Read();
    EXPECT_EQ(r.substr(0, r.find("\r\n")), "HTTP/1.1 400 Bad Request") << req;
    EXPECT_TRUE(c.closed()) << req;
  }
}

// Requests pipelined with LF alone are each framed by their own head: a body that looks like a
// request is a body.
TEST_P(ServerTest, BareLfPipelinedRequestsAreFramedRight) {
  Start();
  const std::string inner = "GET /smuggled HTTP/1.1\n\n";
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("POST /1 HTTP/1.1\nContent-Length: " + std::to_string(inner.size()) + "\n\n" +
                     inner + "GET /2 HTTP/1.1\n\nGET /3 HTTP/1.1\nConnection: close\n\n"));
  std::string all = c.Read();  // the three answers, until the server closes after the third
  size_t first = all.find("POST /1 v11 from=127.0.0.1 body=" + inner);
  size_t second = all.find("GET /2 v11 from=127.0.0.1 body=");
  size_t third = all.find("GET /3 v11 from=127.0.0.1 body=");
  EXPECT_TRUE(first < second && second < third && third != std::string::npos) << all;
  EXPECT_EQ(all.find("GET /smuggled v11"), std::string::npos) << all;
  EXPECT_TRUE(c.closed());
}

// The header limit is on what the client sent, not on the CRs the server adds.
TEST_P(ServerTest, BareLfHeaderLimitIsOnTheBytesSent) {
  ServerLimits l;
  l.header_bytes = 1024;
  Start(l);
  auto head = [](int fields) {
    std::string h = "GET /lim HTTP/1.1\n";  // 18 bytes, then 14 a field, then 1
    for (int i = 0; i < fields; ++i) h += "X: 0123456789\n";
    return h + "\n";
  };
  ASSERT_EQ(head(71).size(), 1013u);  // 1086 with CRLF
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send(head(71)));
  EXPECT_TRUE(c.ReadResponse().starts_with("HTTP/1.1 200 OK\r\n"));
  for (int fields : {73, 200}) {  // 1041 bytes: complete but over; 2819: over before its end
    RawClient over = RawClient::Tcp(port_);
    ASSERT_TRUE(over.Send(head(fields)));
    std::string r = over.Read();
    EXPECT_TRUE(r.starts_with("HTTP/1.1 431 Request Header Fields Too Large")) << fields << r;
    EXPECT_TRUE(over.closed());
  }
}

TEST_P(ServerTest, OnlyExactlyChunkedTransferEncodingIsAccepted) {
  Start();
  const std::string chunked_body = "5\r\nhello\r\n0\r\n\r\n";
  // Any other coding list would leave the body's length to interpretation: the chunks (here
  // smuggling a second request) must never be read as the next request.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string body = std::to_string(smuggled.size()) + "\r\n" + smuggled + "\r\n0\r\n\r\n";
  for (const char* te :
       {"Transfer-Encoding: chunked, identity\r\n", "Transfer-Encoding: identity, chunked\r\n",
        "Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: identity\r\n", "Transfer-Encoding: chunked,\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"}) {
    RawClient c = RawClient::Tcp(port_);
    ASSERT_TRUE(c.Send(std::string("POST /p HTTP/1.1\r\nHost: x\r\n") + te + "\r\n" + body));
    std::string r = c.Read();
    EXPECT_EQ(r.substr(0, r.find("\r\n")), "HTTP/1.1 400 Bad Request") << te;
    EXPECT_EQ(r.find("smuggled"), std::string::npos) << te << r;
    EXPECT_TRUE(c.closed()) << te;
  }
  for (const char* te : {"chunked", "Chunked", " chunked "}) {
    RawClient c = RawClient::Tcp(port_);
    ASSERT_TRUE(c.Send(std::string("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:") + te +
                       "\r\n\r\n" + chunked_body));
    EXPECT_NE(c.ReadResponse().find("body=hello"), std::string::npos) << te;
  }
}

TEST_P(ServerTest, SlowClientIsCutOffAndOthersAreServed) {
  ServerLimits l;
  l.request_timeout = 300ms;
  Start(l);
  RawClient slow = RawClient::Tcp(port_);
  ASSERT_TRUE(slow.Send("GET / HTTP/1.1\r\nX-a: "));  // and then trickle forever
  auto started = std::chrono::steady_clock::now();
  // Meanwhile another client is served at once.
  RawClient fast = RawClient::Tcp(port_);
  ASSERT_TRUE(fast.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(fast.ReadResponse().find("GET /fast"), std::string::npos);
  for (int i = 0; i < 100 && !slow.closed(); ++i) {  // up to 5 s: the machine may be busy
    slow.Send("a");
    slow.Read(50ms);
  }
  EXPECT_TRUE(slow.closed());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  // The deadline closes the socket first and counts after, so the client can see the close
  // before the count: the count is final once every connection has ended.
  StopAndDrain();
  EXPECT_EQ(server_->stats().timed_out.load(), 1u);
}

TEST_P(ServerTest, IdleConnectionIsClosed) {
  ServerLimits l;
  l.idle_timeout = 200ms;
  Start(l);
  RawClient c = RawClient::Tcp(port_);
  c.Read();  // until the server closes (or 5 s)
  EXPECT_TRUE(c.closed());
}

TEST_P(ServerTest, HalfClosedClientGetsItsAnswer) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("GET /half HTTP/1.1\r\nHost: x\r\n\r\n"));
  c.ShutdownWrite();
  std::string r = c.Read();
  EXPECT_NE(r.find("GET /half"), std::string::npos) << r;
}

TEST_P(ServerTest, PerAddressLimitRefusesTheExtraConnection) {
  ServerLimits l;
  l.max_connections_per_address = 2;
  Start(l);
  RawClient a = RawClient::Tcp(port_), b = RawClient::Tcp(port_);
  ASSERT_TRUE(a.Send("GET /a HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /b HTTP/1.1\r\n\r\n"));
  a.ReadResponse();
  b.ReadResponse();
  RawClient c = RawClient::Tcp(port_);
  c.Send("GET /c HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c.Read(2000ms), "");
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(server_->stats().refused.load(), 1u);
  a.Close();
  // Once one leaves, a new one is admitted. The server notices the close on its own threads and
  // tells no one: wait for its count.
  ASSERT_TRUE(testing::WaitUntil([&] { return server_->counts().open == 1; }))
      << server_->counts().open;
  RawClient d = RawClient::Tcp(port_);
  ASSERT_TRUE(d.Send("GET /d HTTP/1.1\r\n\r\n"));
  EXPECT_NE(d.ReadResponse().find("GET /d"), std::string::npos);
  EXPECT_EQ(server_->stats().refused.load(), 1u);
}

TEST(ServerPeerLimitTest, TotalOnlyListenerAdmitsManyConnectionsFromOneAddress) {
  asio::io_context ioc;
  ServerLimits l;
  l.max_connections_per_address = 2;
  l.max_connections = 5;
  Server server(ioc, l);
  auto ep = server.ListenTcp("127.0.0.1", 0, Echo, nullptr, PeerLimit::kTotalOnly);
  ASSERT_TRUE(ep);
  std::thread t([&] { ioc.run(); });
  std::vector<RawClient> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(RawClient::Tcp(ep->port()));
    ASSERT_TRUE(clients.back().Send("GET /" + std::to_string(i) + " HTTP/1.1\r\n\r\n"));
    EXPECT_NE(clients.back().ReadResponse().find("GET /" + std::to_string(i)), std::string::npos)
        << i;
  }
  RawClient over = RawClient::Tcp(ep->port());  // the total limit still holds
  over.Send("GET /over HTTP/1.1\r\n\r\n");
  EXPECT_EQ(over.Read(2000ms), "");
  EXPECT_EQ(server.stats().refused.load(), 1u);
  asio::post(ioc, [&] { server.Stop(); });
  t.join();
}

TEST_P(ServerTest, HandlerAsksToClose) {
  Start();
  RawClient c = RawClient::Tcp(port_);
  ASSERT_TRUE(c.Send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = c.Read();
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(c.closed());
}

INSTANTIATE_TEST_SUITE_P(Connections, ServerTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "IoPool" : "Strands"; });

TEST(ServerUnixTest, ServesOnAUnixSocketAndClosesOneListener) {
  asio::io_context ioc;
  Server server(ioc, {});
  std::string path =
      ::testing::TempDir() + "/metastack-http-" + std::to_string(::getpid()) + ".sock";
  ListenerId unix_id = 0;
  ASSERT_TRUE(server.ListenUnix(path, 0600, Echo, &unix_id));
  auto tcp = server.ListenTcp("127.0.0.1", 0, Echo);
  ASSERT_TRUE(tcp);
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::thread t([&] { ioc.run(); });
  RawClient c = RawClient::Unix(path);
  ASSERT_TRUE(c.Send("GET /u HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(c.ReadResponse().find("GET /u v11 from= "), std::string::npos);
  std::promise<void> closed;
  asio::post(ioc, [&] {
    server.CloseListener(unix_id);
    // CloseListener posts the acceptor's close to this (one-threaded) context: this runs after.
    asio::post(ioc, [&] { closed.set_value(); });
  });
  closed.get_future().wait();
  // Nothing listens on the path any more: a new connection is refused at once.
  EXPECT_FALSE(RawClient::Unix(path).ok());
  RawClient d = RawClient::Tcp(tcp->port());  // the other listener is untouched
  ASSERT_TRUE(d.Send("GET /t HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(d.ReadResponse().find("GET /t"), std::string::npos);
  asio::post(ioc, [&] { server.Stop(); });
  t.join();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace metastack::http
