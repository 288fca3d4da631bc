#include "agent/agent.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <tuple>

#include "api/service.h"
#include "core/signing.h"
#include "core/testdata.h"
#include "http/headers.h"
#include "http/test_client.h"
#include "store/memory_store.h"

namespace metastack::agent {
namespace {

using http::testing::RawClient;

constexpr char kSecret[] = "shared";
constexpr char kA[] = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr char kB[] = "bbbbbbbb-0000-4000-8000-000000000002";

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    ASSERT_TRUE(store_->CreateRouter({"router-a", "", "proj-a", 0, ""}));
    ASSERT_TRUE(store_->CreateNetwork({"net-a", "", "proj-a", "router-a", 0, ""}));
    ASSERT_TRUE(store_->CreateNetwork({"net-b", "", "proj-b", std::nullopt, 0, ""}));
    ASSERT_TRUE(
        store_->CreateInstance(core::testing::InstanceWithPort(kA, "net-a", "10.0.0.5", "proj-a")));
    ASSERT_TRUE(
        store_->CreateInstance(core::testing::InstanceWithPort(kB, "net-b", "10.0.0.5", "proj-b")));
    api::ApiOptions api_options;
    api_options.shared_secret = kSecret;
    api_ = std::make_unique<api::MetadataApi>(*store_, pool_, api_options, metrics_);
    server_ = std::make_unique<http::Server>(ioc_, http::ServerLimits{});
    api_port_ =
        server_->ListenTcp("127.0.0.1", 0, api_->Handler(api::Identification::kSigned))->port();
    StartAgent(kSecret, "http://127.0.0.1:" + std::to_string(api_port_));
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void StartAgent(const std::string& secret, const std::string& upstream,
                  http::UpstreamOptions options = {}) {
    auto up = http::MakeUpstream(upstream, options);
    ASSERT_TRUE(up);
    agents_.push_back(
        std::make_unique<MetadataAgent>(*store_, pool_, *up, AgentOptions{secret}, metrics_));
    socket_ = ::testing::TempDir() + "/agent-" + std::to_string(::getpid()) + "-" +
              std::to_string(agents_.size()) + ".sock";
    ASSERT_TRUE(server_->ListenUnix(socket_, 0600, agents_.back()->Handler()));
  }
  void TearDown() override {
    asio::post(ioc_, [this] { server_->Stop(); });
    thread_.join();
    // A worker may still be leaving a job it has just handed back (holding a copy of the
    // io_context's executor): it must be done before the io_context is destroyed.
    pool_.join();
  }
  std::string SendRaw(const std::string& head, const std::string& body = "") {
    RawClient c = RawClient::Unix(socket_);
    c.Send(head + "\r\n" + body);
    return c.ReadResponse();
  }
  std::pair<unsigned, std::string> Send(const std::string& head, const std::string& body = "") {
    std::string raw = SendRaw(head, body);
    if (raw.size() < 12) return {0, raw};
    size_t end = raw.find("\r\n\r\n");
    return {static_cast<unsigned>(std::stoi(raw.substr(9, 3))), raw.substr(end + 4)};
  }

  asio::thread_pool pool_{2};
  http::Metrics metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<api::MetadataApi> api_;
  asio::io_context ioc_;
  std::unique_ptr<http::Server> server_;
  std::vector<std::unique_ptr<MetadataAgent>> agents_;
  std::thread thread_;
  std::string socket_;
  uint16_t api_port_ = 0;
};

TEST_F(AgentTest, SameAddressTwoTenants) {
  auto viaRouter = Send(
      "GET /openstack/latest/meta_data.json HTTP/1.1\r\nX-Forwarded-For: "
      "::ffff:10.0.0.5\r\nX-Neutron-Router-ID: router-a\r\n");
  EXPECT_EQ(viaRouter.first, 200u) << viaRouter.second;
  EXPECT_NE(viaRouter.second.find(kA), std::string::npos);
  auto viaNetwork = Send(
      "GET /openstack/latest/meta_data.json HTTP/1.1\r\nX-Forwarded-For: "
      "10.0.0.5\r\nX-Neutron-Network-ID: net-b\r\n");
  EXPECT_EQ(viaNetwork.first, 200u);
  EXPECT_NE(viaNetwork.second.find(kB), std::string::npos);
  EXPECT_EQ(viaNetwork.second.find(kA), std::string::npos);
}

TEST_F(AgentTest, WhoCannotBeNamedGets404Or400) {
  struct Case {
    std::string headers;
    unsigned status;
  } cases[] = {
      {"X-Neutron-Router-ID: router-a\r\n", 400},
      {"X-Forwarded-For: not-an-ip\r\nX-Neutron-Router-ID: router-a\r\n", 400},
      {"X-Forwarded-For: 10.0.0.5\r\nX-Forwarded-For: 10.0.0.6\r\nX-Neutron-Router-ID: "
       "router-a\r\n",
       400},
      {"X-Forwarded-For: 10.0.0.5\r\n", 404},
      {"X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Router-ID: router-a\r\nX-Neutron-Network-ID: "
       "net-a\r\n",
       404},
      {"X-Forwarded-For: 10.0.0.9\r\nX-Neutron-Router-ID: router-a\r\n", 404},
      {"X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Router-ID: router-zz\r\n", 404},
      {"X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Network-ID: net-zz\r\n", 404},
  };
  for (const auto& c : cases)
    EXPECT_EQ(Send("GET /latest/meta-data/ HTTP/1.1\r\n" + c.headers).first, c.status) << c.headers;
}

TEST_F(AgentTest, NewPortsAreSeenAtOnce) {
  std::string req =
      "GET /latest/meta-data/instance-id HTTP/1.1\r\nX-Forwarded-For: "
      "10.0.0.7\r\nX-Neutron-Network-ID: net-b\r\n";
  EXPECT_EQ(Send(req).first, 404u);  // remembered as absent...
  core::Instance c = core::testing::InstanceWithPort("cccccccc-0000-4000-8000-000000000003",
                                                     "net-b", "10.0.0.5", "proj-b");
  c.ports[0].id = "port-c";
  c.ports[0].subnets[0].ip_address = "10.0.0.7";
  ASSERT_TRUE(store_->CreateInstance(c));
  auto r = Send(req);  // ...until the change feed says otherwise
  EXPECT_EQ(r.first, 200u);
  EXPECT_EQ(r.second, "i-cccccccc");
}

TEST_F(AgentTest, PasswordPostPassesThrough) {
  std::string head =
      "POST /openstack/latest/password HTTP/1.1\r\nX-Forwarded-For: "
      "10.0.0.5\r\nX-Neutron-Network-ID: net-b\r\nContent-Length: 3\r\n";
  EXPECT_EQ(Send(head, "pw1").first, 200u);
  EXPECT_EQ(Send(head, "pw2").first, 409u);
  EXPECT_EQ(*store_->GetInstance(kB)->instance.password, "pw1");
}

// Every method reaches the API as the guest sent it, a token Beast has no verb for too, and
// comes back with the API's answer (Nova's: read as GET, 400 on the password, 404 unknown;
// ours on the session token path).
TEST_F(AgentTest, EveryMethodPassesThroughAsSent) {
  std::string headers = "X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Network-ID: net-b\r\n";
  for (std::string method : {"PUT", "DELETE", "OPTIONS", "FOO"}) {
    auto r = Send(method + " /latest/meta-data/instance-id HTTP/1.1\r\n" + headers);
    EXPECT_EQ(r, std::make_pair(200u, std::string("i-bbbbbbbb"))) << method;
    EXPECT_EQ(Send(method + " /openstack/latest/password HTTP/1.1\r\n" + headers),
              std::make_pair(400u, std::string("400 Bad Request\n\nGET and POST only are "
                                               "supported.\n\n   ")))
        << method;
    // The API's session token path: a PUT without a TTL 400, other methods 405.
    EXPECT_EQ(Send(method + " /latest/api/token HTTP/1.1\r\n" + headers).first,
              method == "PUT" ? 400u : 405u)
        << method;
  }
}

// The guest's session headers reach the API (and only those of the guest's headers): a token
// asked for with either TTL spelling comes back with its TTL header, and opens the instance
// with either token spelling; a token of nonsense is the API's 401.
TEST_F(AgentTest, SessionHeadersPassThrough) {
  std::string headers = "X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Network-ID: net-b\r\n";
  for (std::string ttl : {"X-aws-ec2-metadata-token-ttl-seconds", "X-metadata-token-ttl-seconds"}) {
    std::string raw = SendRaw("PUT /latest/api/token HTTP/1.1\r\n" + headers + ttl + ": 60\r\n");
    ASSERT_EQ(raw.substr(9, 3), "200") << raw;
    EXPECT_NE(raw.find("X-aws-ec2-metadata-token-ttl-seconds: 60\r\n"), std::string::npos) << raw;
    std::string token = raw.substr(raw.find("\r\n\r\n") + 4);
    for (std::string name : {"X-aws-ec2-metadata-token", "X-metadata-token"})
      EXPECT_EQ(Send("GET /latest/meta-data/instance-id HTTP/1.1\r\n" + headers + name + ": " +
                     token + "\r\n"),
                std::make_pair(200u, std::string("i-bbbbbbbb")))
          << name;
  }
  EXPECT_EQ(Send("GET /latest/meta-data/instance-id HTTP/1.1\r\n" + headers +
                 "X-aws-ec2-metadata-token: nonsense\r\n")
                .first,
            401u);
}

TEST_F(AgentTest, WrongSecretIsTheApis403) {
  StartAgent("not-the-secret", "http://127.0.0.1:" + std::to_string(api_port_));
  auto r = Send(
      "GET /latest/meta-data/ HTTP/1.1\r\nX-Forwarded-For: 10.0.0.5\r\nX-Neutron-Network-ID: "
      "net-b\r\n");
  EXPECT_EQ(r.first, 403u);
  EXPECT_EQ(r.second, "403 Forbidden\n\nInvalid proxy request signature.\n\n   ");
}

TEST_F(AgentTest, ApiDownIs502WithAGenericBodyAndOneLogLine) {
  StartAgent(kSecret, "http://127.0.0.1:1");
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 50; ++i) {
    auto r = Send(
        "GET /latest/meta-data/ HTTP/1.1\r\nX-Forwarded-For: 10.0.0.5\r\nX-Neutron-Network-ID: "
        "net-b\r\n");
    EXPECT_EQ(r.first, 502u);
    EXPECT_EQ(r.second, "502 Bad Gateway\n\nThe upstream server is unavailable.\n\n   ");
  }
  std::string log = ::testing::internal::GetCapturedStderr();
  // The address is in the log, once for the whole outage (FailureLog), never in the answer.
  EXPECT_EQ(log.find("metadata API: http://127.0.0.1:1: Connection refused"),
            log.rfind("metadata API"))
      << log;
  EXPECT_NE(log.find("ERROR agent: metadata API: http://127.0.0.1:1: Connection refused\n"),
            std::string::npos)
      << log;
}

// A link-local guest is the port with the MAC its address names (Neutron's agent: EUI-64 read
// back), within the router or network it came through. Both fixture instances have MAC
// fa:16:3e:00:00:01, one per tenant.
TEST_F(AgentTest, LinkLocalGuestIsThePortWithItsMac) {
  for (auto [uuid, network, project] :
       {std::tuple{"cccccccc-0000-4000-8000-000000000003", "net-a", "proj-a"},
        std::tuple{"dddddddd-0000-4000-8000-000000000004", "net-b", "proj-b"}}) {
    core::Instance inst = core::testing::InstanceWithPort(uuid, network, "10.0.0.6", project);
    inst.ports[0].mac = "fa:16:3e:00:04:07";
    ASSERT_TRUE(store_->CreateInstance(inst));
  }
  struct Case {
    const char* guest;
    const char* behind;
    unsigned status;
    const char* instance_id;
  } cases[] = {
      {"fe80::f816:3eff:fe00:407", "X-Neutron-Router-ID: router-a", 200, "i-cccccccc"},
      {"fe80::f816:3eff:fe00:407", "X-Neutron-Network-ID: net-b", 200, "i-dddddddd"},
      {"fe80::f816:3eff:fe00:1", "X-Neutron-Router-ID: router-a", 200, "i-aaaaaaaa"},
      {"fe80::f816:3eff:fe00:1", "X-Neutron-Network-ID: net-b", 200, "i-bbbbbbbb"},
      {"FE80::F816:3EFF:FE00:0001", "X-Neutron-Network-ID: net-b", 200, "i-bbbbbbbb"},
      {"fe80::f816:3eff:fe00:408", "X-Neutron-Router-ID: router-a", 404, nullptr},
      {"fe80::f816:3eff:fe00:408", "X-Neutron-Network-ID: net-b", 404, nullptr},
      {"fe80::f816:3eff:fe00:407", "X-Neutron-Network-ID: net-zz", 404, nullptr},
      // Not link-local: a fixed IP, which nobody has.
      {"2001:db8::f816:3eff:fe00:407", "X-Neutron-Network-ID: net-b", 404, nullptr},
  };
  for (const auto& c : cases) {
    auto r = Send(std::string("GET /latest/meta-data/instance-id HTTP/1.1\r\nX-Forwarded-For: ") +
                  c.guest + "\r\n" + c.behind + "\r\n");
    EXPECT_EQ(r.first, c.status) << c.guest << " " << c.behind << ": " << r.second;
    if (c.instance_id) {
      EXPECT_EQ(r.second, c.instance_id) << c.guest << " " << c.behind;
    }
  }
}

// What the agent sends upstream for a link-local guest, echoed back by a stand-in API.
asio::awaitable<http::Response> EchoingIdentity(http::Request& req) {
  http::Response r;
  r.content_type = "text/plain";
  for (auto name :
       {http::header::kForwardedFor, http::header::kInstanceId, http::header::kTenantId})
    r.body += std::string(name) + ": " + std::string(req.Header(name)) + "\n";
  co_return r;
}

TEST_F(AgentTest, LinkLocalGuestIsForwardedAsItCame) {
  std::promise<uint16_t> bound;
  asio::post(ioc_,
             [&] { bound.set_value(server_->ListenTcp("127.0.0.1", 0, EchoingIdentity)->port()); });
  StartAgent(kSecret, "http://127.0.0.1:" + std::to_string(bound.get_future().get()));
  auto r = Send(
      "GET /latest/meta-data/ HTTP/1.1\r\nX-Forwarded-For: FE80::F816:3EFF:FE00:0001\r\n"
      "X-Neutron-Router-ID: router-a\r\n");
  EXPECT_EQ(r.first, 200u);
  EXPECT_EQ(r.second, std::string("X-Forwarded-For: FE80::F816:3EFF:FE00:0001\nX-Instance-ID: ") +
                          kA + "\nX-Tenant-ID: proj-a\n");
}

// Every header field the API receives, in order, echoed back by a stand-in API.
asio::awaitable<http::Response> EchoingEveryField(http::Request& req) {
  http::Response r;
  r.content_type = "text/plain";
  for (const auto& f : req.message)
    r.body += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
  co_return r;
}

// The request the API receives carries the agent's stamps and the guest's kPassedToApi fields,
// and nothing else of what came from the proxy: no guest identity header, no hop-by-hop one.
TEST_F(AgentTest, ApiReceivesExactlyTheStampsAndThePassedFields) {
  std::promise<uint16_t> bound;
  asio::post(ioc_, [&] {
    bound.set_value(server_->ListenTcp("127.0.0.1", 0, EchoingEveryField)->port());
  });
  uint16_t port = bound.get_future().get();
  StartAgent(kSecret, "http://127.0.0.1:" + std::to_string(port));
  auto r = Send(
      "GET /latest/meta-data/ HTTP/1.1\r\nHost: agent\r\nX-Forwarded-For: 10.0.0.5\r\n"
      "If-None-Match: \"e1\"\r\nX-Neutron-Router-ID: router-a\r\nX-Instance-ID: evil\r\n"
      "X-Tenant-ID: evil\r\nX-Instance-ID-Signature: evil\r\nAuthorization: Bearer t\r\n"
      "Connection: keep-alive\r\nX-aws-ec2-metadata-token: tok\r\nUser-Agent: curl\r\n"
      "if-none-match: \"e2\"\r\n");
  EXPECT_EQ(r.first, 200u);
  // (Beast's parser in the stand-in API lists the fields of one name together.)
  EXPECT_EQ(r.second,
            "If-None-Match: \"e1\"\nif-none-match: \"e2\"\n"
            "X-aws-ec2-metadata-token: tok\nX-Forwarded-For: 10.0.0.5\nX-Instance-ID: " +
                std::string(kA) + "\nX-Tenant-ID: proj-a\nX-Instance-ID-Signature: " +
                core::SignInstanceId(kSecret, kA) + "\nHost: 127.0.0.1:" + std::to_string(port) +
                "\n");
}

TEST(PassedToApiTest, OnlyTheSessionAndEtagHeaders) {
  for (auto name : http::header::kPassedToApi) EXPECT_TRUE(PassedToApi(name)) << name;
  EXPECT_TRUE(PassedToApi("if-none-match"));
  for (auto name : http::header::kHopOnly) EXPECT_FALSE(PassedToApi(name)) << name;
  for (auto name : {"Authorization", "Host", "Connection", "User-Agent", "Cookie"})
    EXPECT_FALSE(PassedToApi(name)) << name;
}

// The API's redirect keeps its Location (header::kPassedBack), and nothing else of its headers.
asio::awaitable<http::Response> Redirecting(http::Request&) {
  http::Response r;
  r.status = 302;
  r.content_type = "text/plain";
  r.headers = {{"Location", "/openstack/latest/"}, {"X-Internal", "10.1.2.3:8775"}};
  r.body = "moved";
  co_return r;
}

TEST_F(AgentTest, RedirectKeepsItsLocation) {
  std::promise<uint16_t> bound;
  asio::post(ioc_,
             [&] { bound.set_value(server_->ListenTcp("127.0.0.1", 0, Redirecting)->port()); });
  uint16_t port = bound.get_future().get();
  StartAgent(kSecret, "http://127.0.0.1:" + std::to_string(port));
  std::string raw = SendRaw(
      "GET /openstack HTTP/1.1\r\nX-Forwarded-For: 10.0.0.5\r\nX-Neutron-Network-ID: net-b\r\n");
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 302 Found\r\n")) << raw;
  EXPECT_NE(raw.find("\r\nLocation: /openstack/latest/\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("X-Internal"), std::string::npos) << raw;
  EXPECT_TRUE(raw.ends_with("\r\n\r\nmoved")) << raw;
}

// GCE-style change notification through the agent: If-None-Match goes on to the API
// (header::kPassedToApi), the ETag comes back (header::kPassedBack), and a wait_for_change
// request is given its timeout_sec beyond the hop's response timeout (http::HoldFor).
TEST_F(AgentTest, ETagsAndLongPollsPassThrough) {
  http::UpstreamOptions quick;
  quick.response_timeout = std::chrono::milliseconds(100);
  StartAgent(kSecret, "http://127.0.0.1:" + std::to_string(api_port_), quick);
  const std::string guest = "X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Router-ID: router-a\r\n";
  std::string raw = SendRaw("GET /latest/meta-data/hostname HTTP/1.1\r\n" + guest);
  size_t at = raw.find("\r\nETag: ");
  ASSERT_NE(at, std::string::npos) << raw;
  std::string etag = raw.substr(at + 8, 16);
  std::string not_modified = SendRaw("GET /latest/meta-data/hostname HTTP/1.1\r\n" + guest +
                                     "If-None-Match: " + etag + "\r\n");
  EXPECT_TRUE(not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n")) << not_modified;
  EXPECT_NE(not_modified.find("\r\nETag: " + etag + "\r\n"), std::string::npos);
  // A wait of 1 s outlasts the hop's 100 ms: it ends as the API's timeout, not the hop's 504.
  std::string waited = SendRaw(
      "GET /latest/meta-data/hostname?wait_for_change=true&timeout_sec=1&last_etag=" + etag +
      " HTTP/1.1\r\n" + guest);
  EXPECT_TRUE(waited.starts_with("HTTP/1.1 200 OK\r\n")) << waited;
  EXPECT_NE(waited.find("\r\nETag: " + etag + "\r\n"), std::string::npos) << waited;
}

}  // namespace
}  // namespace metastack::agent
