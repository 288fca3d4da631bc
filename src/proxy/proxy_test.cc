#include "proxy/proxy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include "http/headers.h"
#include "http/test_client.h"
#include "net/netns.h"

namespace metastack::proxy {
namespace {

using http::testing::RawClient;
using namespace std::chrono_literals;

// A stand-in agent that answers with the headers it received, one per line.
asio::awaitable<http::Response> EchoHeaders(http::Request& req) {
  http::Response r;
  r.content_type = "text/plain";
  if (req.message.target() == "/redirect") {
    r.status = 301;
    r.headers = {{"Location", "http://169.254.169.254/openstack/"},
                 {"Allow", "GET, HEAD"},
                 {"X-Agent-Socket", "/run/metastack/agent.sock"}};
  }
  if (req.message.target() == "/latest/api/token")
    r.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}};
  if (std::string_view(req.message.target()).starts_with("/slow")) {
    asio::steady_timer t(co_await asio::this_coro::executor, 2s);
    co_await t.async_wait(asio::use_awaitable);
  }
  for (const auto& f : req.message)
    r.body += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
  r.body += "body=" + req.message.body();
  co_return r;
}

Binder LocalBinder() {
  return [](const ListenerSpec& s) {
    net::ListenOptions o;
    o.nonblocking = true;
    return net::BindTcpInNamespace("", s.address, s.port, o);
  };
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = ::testing::TempDir() + "/proxy-agent-" + std::to_string(::getpid()) + ".sock";
    server_ = std::make_unique<http::Server>(ioc_, http::ServerLimits{});
    StartAgent();
    http::UpstreamOptions o;
    o.response_timeout = 500ms;
    proxy_ = std::make_unique<NsProxy>(*server_, *http::MakeUpstream("unix:" + socket_, o),
                                       LocalBinder(), metrics_);
    router_port_ =
        *proxy_->Add({"qrouter-r1", "", ListenerSpec::Kind::kRouter, "r1", "127.0.0.1", 0});
    network_port_ = *proxy_->Add({"qdhcp-n1", "", ListenerSpec::Kind::kNetwork, "n1", "::", 0});
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void StartAgent() { ASSERT_TRUE(server_->ListenUnix(socket_, 0600, EchoHeaders, &agent_id_)); }
  void TearDown() override {
    asio::post(ioc_, [this] { server_->Stop(); });
    thread_.join();
  }
  // Runs `fn` on the server's (one) thread, then waits until what it posted there has run too
  // (a closed listener's acceptor is closed by a handler CloseListener posts).
  void OnServerThread(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(ioc_, [&] {
      fn();
      asio::post(ioc_, [&] { done.set_value(); });
    });
    done.get_future().wait();
  }
  std::pair<unsigned, std::string> Get(uint16_t port, const std::string& extra,
                                       const std::string& target = "/x") {
    RawClient c = RawClient::Tcp(port);
    c.Send("GET " + target + " HTTP/1.1\r\nHost: 169.254.169.254\r\n" + extra + "\r\n");
    std::string raw = c.ReadResponse();
    if (raw.size() < 12) return {0, raw};
    return {static_cast<unsigned>(std::stoi(raw.substr(9, 3))),
            raw.substr(raw.find("\r\n\r\n") + 4)};
  }

  asio::io_context ioc_;
  http::Metrics metrics_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<NsProxy> proxy_;
  std::thread thread_;
  std::string socket_;
  http::ListenerId agent_id_ = 0;
  uint16_t router_port_ = 0, network_port_ = 0;
};

TEST_F(ProxyTest, GuestHeadersNeverPassAndOursAreSet) {
  auto [status, body] =
      Get(router_port_,
          "X-Forwarded-For: 10.9.9.9\r\nX-Neutron-Router-ID: evil\r\n"
          "X-Neutron-Network-ID: evil\r\nX-Instance-ID: evil\r\nx-tenant-id: evil\r\n"
          "X-Instance-ID-Signature: evil\r\nX-Metadata-Provider: evil\r\n"
          "X-Metadata-Provider-Signature: evil\r\nX-Kept: yes\r\n");
  EXPECT_EQ(status, 200u);
  EXPECT_EQ(body.find("evil"), std::string::npos) << body;
  EXPECT_EQ(body.find("10.9.9.9"), std::string::npos) << body;
  EXPECT_NE(body.find("X-Forwarded-For: 127.0.0.1\n"), std::string::npos) << body;
  EXPECT_NE(body.find("X-Neutron-Router-ID: r1\n"), std::string::npos) << body;
  EXPECT_NE(body.find("X-Kept: yes\n"), std::string::npos) << body;
  auto net = Get(network_port_, "");
  EXPECT_NE(net.second.find("X-Neutron-Network-ID: n1\n"), std::string::npos) << net.second;
  // The spellings a WSGI server behind the agent would read as the real headers.
  auto wsgi = Get(router_port_,
                  "X_Neutron_Router_ID: evil\r\nX-Neutron_Network-ID: evil\r\n"
                  "x_instance_id: evil\r\nX_Forwarded_For: 10.9.9.9\r\nX-Kept_Too: yes\r\n");
  EXPECT_EQ(wsgi.first, 200u);
  EXPECT_EQ(wsgi.second.find("evil"), std::string::npos) << wsgi.second;
  EXPECT_EQ(wsgi.second.find("10.9.9.9"), std::string::npos) << wsgi.second;
  EXPECT_EQ(wsgi.second.find("_"), std::string::npos) << wsgi.second;
  EXPECT_NE(net.second.find("X-Forwarded-For: ::ffff:127.0.0.1\n"), std::string::npos)
      << net.second;
}

TEST_F(ProxyTest, AgentDownThenBack) {
  OnServerThread([this] { server_->CloseListener(agent_id_); });
  std::filesystem::remove(socket_);
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 20; ++i) {
    auto down = Get(router_port_, "");
    EXPECT_EQ(down.first, 502u);
    // The socket's path is for the log, never for the guest.
    EXPECT_EQ(down.second, "502 Bad Gateway\n\nThe upstream server is unavailable.\n\n   ");
  }
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("ERROR proxy: agent: unix:" + socket_ + ": "), std::string::npos) << log;
  EXPECT_EQ(log.find("ERROR proxy: agent"), log.rfind("ERROR proxy: agent")) << log;
  OnServerThread([this] { StartAgent(); });  // listening once it returns
  EXPECT_EQ(Get(router_port_, "").first, 200u);
}

TEST_F(ProxyTest, RedirectKeepsLocationAndAllowOnly) {
  RawClient c = RawClient::Tcp(router_port_);
  c.Send("GET /redirect HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n");
  std::string raw = c.ReadResponse();
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 301 Moved Permanently\r\n")) << raw;
  EXPECT_NE(raw.find("\r\nLocation: http://169.254.169.254/openstack/\r\n"), std::string::npos)
      << raw;
  EXPECT_NE(raw.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("X-Agent-Socket"), std::string::npos) << raw;
}

TEST_F(ProxyTest, SlowAgentIs504) {
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(Get(router_port_, "", "/slow").first, 504u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
}

// A GCE-style wait_for_change request may take its timeout_sec beyond --agent-timeout (500 ms
// here; the agent answers after 2 s): http::HoldFor.
TEST_F(ProxyTest, AWaitingRequestIsGivenItsTimeout) {
  EXPECT_EQ(Get(router_port_, "", "/slow?wait_for_change=true&timeout_sec=3").first, 200u);
  EXPECT_EQ(Get(router_port_, "", "/slow?wait_for_change=false&timeout_sec=3").first, 504u);
}

// IMDSv2 sessions: the proxy refuses a guest's token PUT that carries X-Forwarded-For itself
// (it deletes the header, so nothing behind it could tell), and writes an answer that carries
// the token TTL header with hop limit 1; nothing else changes.
TEST_F(ProxyTest, TokenRequests) {
  auto handle = [&](bhttp::verb method, const std::string& target, bool forwarded) {
    auto req = std::make_shared<http::Request>();
    req->message = bhttp::request<bhttp::string_body>(method, target, 11);
    req->peer.address = "10.0.0.5";
    if (forwarded) req->message.insert("X-Forwarded-For", "192.0.2.7");
    ListenerSpec spec{"qrouter-r1", "", ListenerSpec::Kind::kRouter, "r1", "127.0.0.1", 0};
    return asio::co_spawn(
               ioc_,
               [this, req, spec]() -> asio::awaitable<http::Response> {
                 co_return co_await proxy_->Handle(*req, spec);
               },
               asio::use_future)
        .get();
  };
  http::Response refused = handle(bhttp::verb::put, "/latest/api/token", true);
  EXPECT_EQ(refused.status, 403u);
  EXPECT_EQ(refused.body,
            "403 Forbidden\n\nA session token request must not carry X-Forwarded-For.\n\n   ");
  EXPECT_EQ(refused.hop_limit, 0);
  http::Response token = handle(bhttp::verb::put, "/latest/api/token", false);
  EXPECT_EQ(token.status, 200u);
  EXPECT_EQ(token.hop_limit, 1);
  ASSERT_EQ(token.headers.size(), 1u);
  EXPECT_EQ(token.headers[0].first, "X-aws-ec2-metadata-token-ttl-seconds");
  EXPECT_EQ(token.headers[0].second, "60");
  // A GET carrying X-Forwarded-For is an ordinary request (the header is replaced).
  http::Response other = handle(bhttp::verb::get, "/latest/meta-data/", true);
  EXPECT_EQ(other.status, 200u);
  EXPECT_EQ(other.hop_limit, 0);
  EXPECT_NE(other.body.find("X-Forwarded-For: 10.0.0.5\n"), std::string::npos) << other.body;
}

TEST_F(ProxyTest, ListenersComeAndGoAlone) {
  EXPECT_EQ(proxy_->Add({"qrouter-r1", "", ListenerSpec::Kind::kRouter, "r1", "127.0.0.1", 0})
                .error()
                .code,
            ErrorCode::kConflict);
  ASSERT_TRUE(proxy_->Remove("qdhcp-n1"));
  OnServerThread([] {});  // the acceptor's close, which Remove posted, has run
  EXPECT_EQ(Get(network_port_, "").first, 0u);   // gone
  EXPECT_EQ(Get(router_port_, "").first, 200u);  // untouched
  EXPECT_EQ(proxy_->List()["listeners"].size(), 1u);
  EXPECT_EQ(proxy_->Remove("nope").error().code, ErrorCode::kNotFound);
}

// The listeners of SetUp were added at run time (as proxy-ctl adds them): Reconcile manages
// only the configuration's own, adopting a run-time listener the configuration names with the
// same settings and leaving the others alone.
TEST_F(ProxyTest, ReconcileManagesTheConfigurationsListenersOnly) {
  auto names = [&] {
    std::vector<std::string> out;
    auto list = proxy_->List();
    for (const auto& l : list["listeners"]) out.push_back(l["name"]);
    return out;
  };
  std::vector<ListenerSpec> want = {
      {"qrouter-r1", "", ListenerSpec::Kind::kRouter, "r1", "127.0.0.1", 0},
      {"qrouter-r2", "", ListenerSpec::Kind::kRouter, "r2", "127.0.0.1", 0}};
  ASSERT_TRUE(proxy_->Reconcile(want));
  EXPECT_EQ(names(), (std::vector<std::string>{"qdhcp-n1", "qrouter-r1", "qrouter-r2"}));
  EXPECT_EQ(proxy_->List()["listeners"][1]["port"], router_port_);  // adopted, not re-bound

  // Without qrouter-r1 (now the configuration's): it closes; the run-time qdhcp-n1 stays.
  ASSERT_TRUE(proxy_->Reconcile({want[1]}));
  EXPECT_EQ(names(), (std::vector<std::string>{"qdhcp-n1", "qrouter-r2"}));
  EXPECT_EQ(Get(router_port_, "").first, 0u);
  EXPECT_EQ(Get(network_port_, "").first, 200u);

  // The configuration naming a run-time listener with other settings: a conflict, nothing
  // replaced.
  auto st = proxy_->Reconcile(
      {want[1], {"qdhcp-n1", "", ListenerSpec::Kind::kNetwork, "n2", "127.0.0.1", 0}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(names(), (std::vector<std::string>{"qdhcp-n1", "qrouter-r2"}));
  EXPECT_EQ(proxy_->List()["listeners"][0]["id"], "n1");
}

// A reload of many listeners (a file per host of thousands): only those whose settings changed,
// or that left or joined the file, are closed or opened; every other keeps its socket.
TEST_F(ProxyTest, AReloadTouchesOnlyTheListenersThatChanged) {
  std::vector<ListenerSpec> want;
  for (int i = 0; i < 50; ++i)
    want.push_back({"qrouter-many-" + std::to_string(i), "", ListenerSpec::Kind::kRouter,
                    "r" + std::to_string(i), "127.0.0.1", 0});
  ASSERT_TRUE(proxy_->Reconcile(want));
  const size_t run_time = 2;  // SetUp's
  EXPECT_EQ(proxy_->listener_count(), want.size() + run_time);
  auto port = [&](const std::string& name) { return proxy_->Find(name)->port; };
  uint16_t kept_port = port("qrouter-many-3");

  want[7].id = "r7-new";
  want.erase(want.begin() + 20);
  want.push_back({"qrouter-many-50", "", ListenerSpec::Kind::kRouter, "r50", "127.0.0.1", 0});
  ASSERT_TRUE(proxy_->Reconcile(want));
  EXPECT_EQ(proxy_->listener_count(), want.size() + run_time);
  EXPECT_EQ(port("qrouter-many-3"), kept_port);
  EXPECT_EQ(proxy_->Find("qrouter-many-7")->spec.id, "r7-new");
  auto [status, body] = Get(port("qrouter-many-7"), "");  // bound again, stamping the new id
  EXPECT_EQ(status, 200u);
  EXPECT_NE(body.find("X-Neutron-Router-ID: r7-new\n"), std::string::npos) << body;
  EXPECT_FALSE(proxy_->Find("qrouter-many-20"));
  EXPECT_TRUE(proxy_->Find("qrouter-many-50"));
  EXPECT_EQ(Get(kept_port, "").first, 200u);
}

// The namespace manager's listeners: Reconcile neither closes nor adopts them (a configured one
// with the same name is a conflict), and only the manager's own RemoveFrom closes them.
TEST_F(ProxyTest, ManagedListenersAreTheManagersOnly) {
  ListenerSpec managed{"qrouter-m1", "", ListenerSpec::Kind::kRouter, "m1", "127.0.0.1", 0};
  ASSERT_TRUE(proxy_->Add(managed, NsProxy::Origin::kManaged));
  ASSERT_TRUE(proxy_->Reconcile({}));
  ASSERT_TRUE(proxy_->Find("qrouter-m1"));
  EXPECT_EQ(proxy_->Find("qrouter-m1")->origin, NsProxy::Origin::kManaged);
  auto st = proxy_->Reconcile({managed});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_EQ(st.error().message,
            "listener qrouter-m1 is the namespace manager's (it follows the store); rename the "
            "configured one");
  EXPECT_EQ(proxy_->Find("qrouter-m1")->origin, NsProxy::Origin::kManaged);
  auto wrong = proxy_->RemoveFrom("qdhcp-n1", NsProxy::Origin::kManaged);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "listener qdhcp-n1 is control, not managed");
  EXPECT_EQ(proxy_->RemoveFrom("nope", NsProxy::Origin::kManaged).error().code,
            ErrorCode::kNotFound);
  const auto list = proxy_->List();
  for (const auto& l : list["listeners"])
    EXPECT_EQ(l["origin"], l["name"] == "qrouter-m1" ? "managed" : "control") << l.dump();
  ASSERT_TRUE(proxy_->RemoveFrom("qrouter-m1", NsProxy::Origin::kManaged));
  EXPECT_FALSE(proxy_->Find("qrouter-m1"));
  EXPECT_TRUE(proxy_->Find("qdhcp-n1"));
}

// A control POST binds in a namespace, which blocks (a thread enters the namespace and is
// joined). The io_context that accepts and serves must go on serving meanwhile: here it has one
// thread, and a GET /listeners is answered while the POST's bind is held.
TEST(ControlTest, ABindHoldsNotTheServingThread) {
  std::promise<std::thread::id> bind_entered;
  std::promise<void> release_bind;
  std::shared_future<void> released = release_bind.get_future().share();
  Binder held = [&, released](const ListenerSpec& s) -> Result<int> {
    bind_entered.set_value(std::this_thread::get_id());
    if (released.wait_for(10s) != std::future_status::ready)
      return std::unexpected(MakeError(ErrorCode::kTimeout, "never released"));
    return LocalBinder()(s);
  };
  asio::io_context ioc;
  http::Metrics metrics;
  http::Server server(ioc, http::ServerLimits{});
  NsProxy proxy(server, *http::MakeUpstream("unix:/nonexistent.sock", {}), held, metrics);
  std::string control =
      ::testing::TempDir() + "/proxy-control-" + std::to_string(::getpid()) + ".sock";
  ASSERT_TRUE(server.ListenUnix(control, 0600, proxy.ControlHandler()));
  std::promise<std::thread::id> serving;
  asio::post(ioc, [&] { serving.set_value(std::this_thread::get_id()); });
  std::thread io([&] { ioc.run(); });
  auto post = [&] {
    RawClient c = RawClient::Unix(control);
    std::string body =
        R"({"name": "qrouter-a", "kind": "router", "id": "a", "address": "127.0.0.1", "port": 0})";
    c.Send("POST /listeners HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body);
    return c.ReadResponse();
  };
  auto posted = std::async(std::launch::async, post);

  auto binding = bind_entered.get_future();
  ASSERT_EQ(binding.wait_for(10s), std::future_status::ready);
  EXPECT_NE(binding.get(), serving.get_future().get());
  RawClient c = RawClient::Unix(control);
  c.Send("GET /listeners HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string listed = c.ReadResponse();
  EXPECT_TRUE(listed.starts_with("HTTP/1.1 200 OK\r\n")) << listed;
  EXPECT_TRUE(listed.ends_with("\r\n\r\n{\"listeners\":[]}")) << listed;
  EXPECT_EQ(posted.wait_for(0s), std::future_status::timeout);

  release_bind.set_value();
  std::string created = posted.get();
  EXPECT_TRUE(created.starts_with("HTTP/1.1 201 Created\r\n")) << created;
  EXPECT_EQ(proxy.List()["listeners"].size(), 1u);
  // Errors are the JSON form of http::ErrorResponse.
  std::string again = post();
  EXPECT_TRUE(again.starts_with("HTTP/1.1 409 Conflict\r\n")) << again;
  EXPECT_TRUE(
      again.ends_with(R"({"error":{"code":"conflict","message":"listener qrouter-a exists"}})"))
      << again;
  asio::post(ioc, [&] { server.Stop(); });
  io.join();
}

// The bytes the proxy writes to the agent's socket for a guest's request (http::WriteForwarded
// with AgentEdits): the guest's fields but the hop-only, hop-by-hop and '_' ones, in order, then
// the stamps, each once.
TEST(AgentEditsTest, WireCarriesTheGuestsFieldsLessForbiddenOnesThenTheStamps) {
  std::string_view raw =
      "GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: 169.254.169.254\r\n"
      "X-Forwarded-For: 10.9.9.9\r\nUser-Agent: cloud-init/23\r\nX-Instance-ID: evil\r\n"
      "X-Neutron-Router-ID: evil\r\nx-neutron-network-id: evil\r\nX-Tenant-ID: evil\r\n"
      "X-Instance-ID-Signature: evil\r\nX-Metadata-Provider-Signature: evil\r\n"
      "X_Forwarded_For: evil\r\nConnection: keep-alive\r\nProxy-Authorization: evil\r\n"
      "If-None-Match: \"abc\"\r\nX-aws-ec2-metadata-token: tok\r\nAccept: */*\r\n\r\n";
  bhttp::request_parser<bhttp::string_body> parser;
  beast::error_code ec;
  parser.put(asio::buffer(raw.data(), raw.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  http::Request req{parser.release(), http::Peer{"10.0.0.5", 40000}, "169.254.169.254"};
  for (auto [kind, id_line] :
       {std::pair{ListenerSpec::Kind::kRouter, "X-Neutron-Router-ID: r1\r\n"},
        std::pair{ListenerSpec::Kind::kNetwork, "X-Neutron-Network-ID: r1\r\n"}}) {
    ListenerSpec spec{"q", "", kind, "r1", "::", 9697};
    std::array<http::HeadField, 2> stamps;
    std::string wire;
    ASSERT_TRUE(http::WriteForwarded(req, AgentEdits(req, spec, stamps), "localhost", wire));
    EXPECT_EQ(wire, std::string("GET /openstack/latest/meta_data.json HTTP/1.1\r\n"
                                "User-Agent: cloud-init/23\r\nIf-None-Match: \"abc\"\r\n"
                                "X-aws-ec2-metadata-token: tok\r\nAccept: */*\r\n"
                                "X-Forwarded-For: 10.0.0.5\r\n") +
                        id_line + "Host: localhost\r\n\r\n");
  }
}

TEST(AgentEditsTest, PassedToAgent) {
  for (auto name : {"User-Agent", "Accept", "If-None-Match", "X-aws-ec2-metadata-token",
                    "Authorization", "X-Kept"})
    EXPECT_TRUE(PassedToAgent(name)) << name;
  for (auto name : http::header::kHopOnly) EXPECT_FALSE(PassedToAgent(name)) << name;
  for (auto name : http::header::kHopByHop) EXPECT_FALSE(PassedToAgent(name)) << name;
  for (auto name : {"x-forwarded-for", "X-Metadata-Provider-Anything", "Proxy-Authorization",
                    "X_Instance_ID", "X-Kept_Too"})
    EXPECT_FALSE(PassedToAgent(name)) << name;
}

TEST(ListenerFileTest, ErrorsNameTheField) {
  auto ok = ParseListenersFile(R"({"listeners": [{"name": "a", "kind": "network", "id": "n"}]})");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].address, "169.254.169.254");
  EXPECT_EQ((*ok)[0].port, 80);
  auto bad = ParseListenersFile(R"({"listeners": [{"name": "a", "kind": "bridge", "id": "n"}]})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().ToString(), "listeners[0].kind: expected router or network");
  EXPECT_EQ(
      ParseListenersFile(R"({"listeners": [{"name": "a", "kind": "router"}]})").error().ToString(),
      "listeners[0].id: is required");
  EXPECT_EQ(ParseListenersFile("[]").error().ToString(), "expected {\"listeners\": [...]} in JSON");
}

}  // namespace
}  // namespace metastack::proxy
