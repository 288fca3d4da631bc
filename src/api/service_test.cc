#include "api/service.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/signing.h"
#include "http/test_client.h"
#include "store/memory_store.h"

namespace metastack::api {
namespace {

using http::testing::RawClient;
using namespace std::chrono_literals;

constexpr char kSecret[] = "s3cret";
constexpr char kUuid[] = "b65cee2f-8c69-4aeb-be2f-f79742548fc2";
constexpr char kProject[] = "proj-a";

core::Instance Example() {
  core::Json doc = {
      {"uuid", kUuid},
      {"hostname", "web-01"},
      {"project_id", kProject},
      {"public_keys", {{"k", "ssh-ed25519 AAAA k@h"}}},
      {"user_data", "#cloud-config\n"},
      {"ports",
       {{{"id", "port-1"},
         {"mac", "fa:16:3e:00:00:01"},
         {"network_id", "net-a"},
         {"subnets",
          {{{"cidr", "10.0.0.0/24"}, {"ip_address", "10.0.0.5"}, {"enable_dhcp", false}}}}}}}};
  return *core::ParseInstanceJson(doc);
}

// The headers the metadata agent adds for a guest at `forwarded_for`.
std::string Signed(const std::string& uuid = kUuid, const std::string& tenant = kProject,
                   const std::string& forwarded_for = "10.0.0.5") {
  return "X-Instance-ID: " + uuid + "\r\nX-Tenant-ID: " + tenant +
         "\r\nX-Instance-ID-Signature: " + core::SignInstanceId(kSecret, uuid) +
         "\r\nX-Forwarded-For: " + forwarded_for + "\r\n";
}

using Reply = http::testing::RawReply;
using http::testing::ParseRawReply;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", kProject, std::nullopt, 0, ""}));
    ASSERT_TRUE(store_->CreateInstance(Example()));
    ApiOptions options;
    options.shared_secret = kSecret;
    options.trusted_proxies = {*core::ParseCidr("127.0.0.2/32")};
    Configure(options);
    api_ = std::make_unique<MetadataApi>(*store_, pool_, options, metrics_);
    server_ = std::make_unique<http::Server>(ioc_, http::ServerLimits{});
    signed_port_ =
        server_->ListenTcp("127.0.0.1", 0, api_->Handler(Identification::kSigned))->port();
    ip_port_ =
        server_->ListenTcp("127.0.0.1", 0, api_->Handler(Identification::kSourceAddress))->port();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    asio::post(ioc_, [this] { server_->Stop(); });
    thread_.join();
    // A worker may still be leaving a job it has just handed back (holding a copy of the
    // io_context's executor): it must be done before the io_context is destroyed.
    pool_.join();
  }
  virtual void Configure(ApiOptions&) {}

  Reply Send(uint16_t port, const std::string& request_head, const std::string& body = "") {
    RawClient c = RawClient::Tcp(port);
    c.Send(request_head + "\r\n" + body);
    return ParseRawReply(c.ReadResponse(request_head.starts_with("HEAD")));
  }
  Reply Get(const std::string& path, const std::string& headers) {
    return Send(signed_port_, "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + headers);
  }

  asio::thread_pool pool_{2};
  http::Metrics metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<MetadataApi> api_;
  asio::io_context ioc_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  uint16_t signed_port_ = 0, ip_port_ = 0;
};

TEST_F(ApiTest, SignedRequestGetsItsMetadata) {
  Reply r = Get("/openstack/latest/meta_data.json", Signed());
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.headers.find("Content-Type: application/json"), std::string::npos);
  EXPECT_TRUE(r.body.starts_with(std::string("{\"uuid\": \"") + kUuid)) << r.body;
  Reply ec2 = Get("/latest/meta-data/local-ipv4", Signed());
  EXPECT_EQ(ec2.body, "10.0.0.5");
}

TEST_F(ApiTest, RandomSeedIsFreshFromTheCache) {
  Reply a = Get("/openstack/latest/meta_data.json", Signed());
  Reply b = Get("/openstack/latest/meta_data.json", Signed());
  ASSERT_EQ(a.status, 200u);
  auto seed = [](const std::string& body) {
    auto j = nlohmann::json::parse(body);
    return j["random_seed"].get<std::string>();
  };
  EXPECT_EQ(seed(a.body).size(), 684u);
  EXPECT_NE(seed(a.body), seed(b.body));
  EXPECT_GE(api_->cache().hits(), 1u);
}

TEST_F(ApiTest, SignedInstanceMustOwnTheForwardedAddress) {
  const std::string not_found = "404 Not Found\n\nThe resource could not be found.\n\n   ";
  struct Case {
    std::string forwarded_for;
    unsigned status;
  } cases[] = {
      {"10.0.0.5", 200},
      {"::ffff:10.0.0.5", 200},         // the proxy's dual-stack form
      {"fe80::f816:3eff:fe00:1", 200},  // the EUI-64 link-local address of the port's MAC
      {"10.0.0.5, 192.0.2.1", 200},     // the first item is the guest
      {"10.0.0.7", 404},                // the port moved away: a stale cache in front
      {"fe80::f816:3eff:fe00:2", 404},
      {"not-an-address", 404},
  };
  for (const auto& c : cases) {
    Reply r = Get("/openstack/latest/meta_data.json", Signed(kUuid, kProject, c.forwarded_for));
    EXPECT_EQ(r.status, c.status) << c.forwarded_for;
    if (c.status == 404) {
      EXPECT_EQ(r.body, not_found) << c.forwarded_for;
    }
  }
  // Without X-Forwarded-For there is nothing to check (Nova's own callers may omit it).
  std::string bare = "X-Instance-ID: " + std::string(kUuid) + "\r\nX-Tenant-ID: " + kProject +
                     "\r\nX-Instance-ID-Signature: " + core::SignInstanceId(kSecret, kUuid) +
                     "\r\n";
  EXPECT_EQ(Get("/openstack/latest/meta_data.json", bare).status, 200u);
  EXPECT_NE(metrics_.Render().find("metastack_api_address_mismatch_total 3"), std::string::npos)
      << metrics_.Render();
}

TEST_F(ApiTest, ForwardedAddressCheckFollowsAMove) {
  // The instance's port moves from 10.0.0.5 to 10.0.0.7: the old address stops being vouched
  // for as soon as the change is announced, the new one starts.
  ASSERT_EQ(Get("/openstack/latest/meta_data.json", Signed(kUuid, kProject, "10.0.0.5")).status,
            200u);
  core::Instance moved = Example();
  moved.ports[0].subnets[0].ip_address = "10.0.0.7";
  ASSERT_TRUE(store_->ReplaceInstance(moved, std::nullopt));
  EXPECT_EQ(Get("/openstack/latest/meta_data.json", Signed(kUuid, kProject, "10.0.0.5")).status,
            404u);
  EXPECT_EQ(Get("/openstack/latest/meta_data.json", Signed(kUuid, kProject, "10.0.0.7")).status,
            200u);
}

TEST(ApiOptionsTest, ForwardedAddressCheckCanBeTurnedOff) {
  auto store = store::NewMemoryStore();
  ASSERT_TRUE(store->CreateNetwork({"net-a", "a", kProject, std::nullopt, 0, ""}));
  ASSERT_TRUE(store->CreateInstance(Example()));
  asio::thread_pool pool{1};
  http::Metrics metrics;
  ApiOptions options;
  options.shared_secret = kSecret;
  options.check_forwarded_address = false;
  MetadataApi api(*store, pool, options, metrics);
  asio::io_context ioc;
  http::Server server(ioc, http::ServerLimits{});
  uint16_t port = server.ListenTcp("127.0.0.1", 0, api.Handler(Identification::kSigned))->port();
  std::thread t([&] { ioc.run(); });
  RawClient c = RawClient::Tcp(port);
  c.Send("GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: x\r\n" +
         Signed(kUuid, kProject, "10.0.0.99") + "\r\n");
  EXPECT_EQ(ParseRawReply(c.ReadResponse(false)).status, 200u);
  asio::post(ioc, [&] { server.Stop(); });
  t.join();
}

struct StatusCase {
  const char* name;
  std::string headers;
  unsigned status;
  std::string body;
};

TEST_F(ApiTest, NovasStatusesForBadCallers) {
  std::string sig = core::SignInstanceId(kSecret, kUuid);
  std::string unknown = "00000000-0000-4000-8000-000000000000";
  const StatusCase cases[] = {
      {"no headers", "", 400,
       "400 Bad Request\n\nX-Instance-ID header is missing from request.\n\n   "},
      {"no signature", std::string("X-Instance-ID: ") + kUuid + "\r\nX-Tenant-ID: p\r\n", 400,
       "400 Bad Request\n\nX-Instance-ID-Signature header is missing from request.\n\n   "},
      {"no tenant",
       std::string("X-Instance-ID: ") + kUuid + "\r\nX-Instance-ID-Signature: " + sig + "\r\n", 400,
       "400 Bad Request\n\nX-Tenant-ID header is missing from request.\n\n   "},
      {"two ids", Signed() + "X-Instance-ID: " + unknown + "\r\n", 400,
       "400 Bad Request\n\nMultiple X-Instance-ID headers found within request.\n\n   "},
      {"bad signature",
       std::string("X-Instance-ID: ") + kUuid + "\r\nX-Tenant-ID: " + kProject +
           "\r\nX-Instance-ID-Signature: " + std::string(64, '0') + "\r\n",
       403, "403 Forbidden\n\nInvalid proxy request signature.\n\n   "},
      {"upper-case signature",
       std::string("X-Instance-ID: ") + kUuid + "\r\nX-Tenant-ID: " + kProject +
           "\r\nX-Instance-ID-Signature: " +
           [&] {
             std::string s = sig;
             for (auto& c : s) c = static_cast<char>(std::toupper(c));
             return s;
           }() +
           "\r\n",
       403, "403 Forbidden\n\nInvalid proxy request signature.\n\n   "},
      {"wrong tenant", Signed(kUuid, "proj-b"), 404,
       "404 Not Found\n\nThe resource could not be found.\n\n   "},
      {"unknown instance", Signed(unknown), 404,
       "404 Not Found\n\nThe resource could not be found.\n\n   "},
  };
  for (const auto& c : cases) {
    Reply r = Get("/openstack/latest/meta_data.json", c.headers);
    EXPECT_EQ(r.status, c.status) << c.name;
    EXPECT_EQ(r.body, c.body) << c.name;
  }
}

TEST_F(ApiTest, RootAndHealthcheckNeedNoIdentity) {
  EXPECT_EQ(Get("/", "").status, 200u);
  EXPECT_TRUE(Get("/", "").body.ends_with("2009-04-04\nlatest"));
  EXPECT_EQ(Get("/healthcheck", "").body, "OK");
  EXPECT_EQ(Get("/openstack", "").status, 400u);
}

// As Nova's handler: any method reads, answered as GET; on the password only GET reads and
// POST writes, anything else (HEAD too) is 400.
TEST_F(ApiTest, MethodsAndHead) {
  Reply get = Get("/openstack/latest/user_data", Signed());
  for (std::string method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"}) {
    Reply r = Send(signed_port_, method + " /openstack/latest/user_data HTTP/1.1\r\n" + Signed());
    EXPECT_EQ(r.status, 200u) << method;
    EXPECT_EQ(r.body, get.body) << method;
    EXPECT_EQ(r.headers.find("Allow:"), std::string::npos) << method;
    if (method == "POST") continue;
    Reply pw = Send(signed_port_, method + " /openstack/latest/password HTTP/1.1\r\n" + Signed());
    EXPECT_EQ(pw.status, 400u) << method;
    EXPECT_EQ(pw.body, "400 Bad Request\n\nGET and POST only are supported.\n\n   ") << method;
    // The session token path (sessions_test.cc): a PUT without a TTL 400, the rest 405.
    EXPECT_EQ(Send(signed_port_, method + " /latest/api/token HTTP/1.1\r\n" + Signed()).status,
              method == "PUT" ? 400u : 405u)
        << method;
  }
  // Identification comes first, as in Nova: no headers, no answer but "/".
  EXPECT_EQ(Send(signed_port_, "DELETE /openstack/latest/password HTTP/1.1\r\n").status, 400u);
  EXPECT_EQ(Send(signed_port_, "DELETE / HTTP/1.1\r\n").status, 200u);
  Reply head_pw = Send(signed_port_, "HEAD /openstack/latest/password HTTP/1.1\r\n" + Signed());
  EXPECT_EQ(head_pw.status, 400u);
  EXPECT_EQ(head_pw.body, "");
  Reply head = Send(signed_port_, "HEAD /openstack/latest/user_data HTTP/1.1\r\n" + Signed());
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.body, "");
  EXPECT_NE(head.headers.find("Content-Length: " + std::to_string(get.body.size())),
            std::string::npos);
}

TEST_F(ApiTest, PasswordIsWriteOnceAndSeenAtOnce) {
  auto post = [&](const std::string& body) {
    return Send(signed_port_,
                "POST /openstack/2013-04-04/password HTTP/1.1\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n" + Signed(),
                body);
  };
  EXPECT_EQ(Get("/openstack/latest/password", Signed()).body, "");
  EXPECT_EQ(post(std::string(1021, 'x')).status, 400u);
  EXPECT_EQ(post(std::string(1021, 'x')).body, "400 Bad Request\n\nRequest is too large.\n\n   ");
  Reply first = post("encrypted-pw");
  EXPECT_EQ(first.status, 200u);
  EXPECT_EQ(Get("/openstack/latest/password", Signed()).body, "encrypted-pw");
  Reply second = post("other");
  EXPECT_EQ(second.status, 409u);
  EXPECT_EQ(post(std::string(1021, 'x')).status, 409u);  // Nova's order: set before too large
  EXPECT_EQ(*store_->GetInstance(kUuid)->instance.password, "encrypted-pw");
}

TEST_F(ApiTest, EditsAreVisibleOnTheNextRequest) {
  EXPECT_EQ(Get("/latest/meta-data/hostname", Signed()).body, "web-01.novalocal");
  auto rec = store_->GetInstance(kUuid);
  core::Instance edited = rec->instance;
  edited.hostname = "renamed";
  ASSERT_TRUE(store_->ReplaceInstance(edited, rec->revision));
  EXPECT_EQ(Get("/latest/meta-data/hostname", Signed()).body, "renamed.novalocal");
  ASSERT_TRUE(store_->DeleteInstance(kUuid));
  EXPECT_EQ(Get("/latest/meta-data/hostname", Signed()).status, 404u);
}

TEST_F(ApiTest, SourceAddressMode) {
  // The peer 127.0.0.1 has no port; a trusted proxy (127.0.0.2) may name the client.
  EXPECT_EQ(Send(ip_port_, "GET /latest/meta-data/instance-id HTTP/1.1\r\n").status, 404u);
  core::Instance local = Example();
  local.uuid = "11111111-1111-4111-8111-111111111111";
  local.ports[0].id = "port-2";
  local.ports[0].subnets[0].cidr = "127.0.0.0/8";
  local.ports[0].subnets[0].ip_address = "127.0.0.1";
  ASSERT_TRUE(store_->CreateInstance(local));
  Reply r = Send(ip_port_, "GET /openstack/latest/meta_data.json HTTP/1.1\r\n");
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find(local.uuid), std::string::npos);
  // X-Forwarded-For from an untrusted peer is ignored.
  Reply spoof = Send(
      ip_port_, "GET /openstack/latest/meta_data.json HTTP/1.1\r\nX-Forwarded-For: 10.0.0.5\r\n");
  EXPECT_NE(spoof.body.find(local.uuid), std::string::npos);
  EXPECT_EQ(spoof.body.find(kUuid), std::string::npos);
}

// A link-local peer (flat networks, or the guest-facing listener on fe80::a9fe:a9fe) is the
// port with the MAC its address names, looked up through the store as the agent does.
TEST_F(ApiTest, LinkLocalPeerIsThePortWithItsMac) {
  ASSERT_TRUE(store_->CreateNetwork({"net-b", "b", "proj-b", std::nullopt, 0, ""}));
  core::Instance other = Example();
  other.uuid = "22222222-2222-4222-8222-222222222222";
  other.project_id = "proj-b";
  other.ports[0].id = "port-2";
  other.ports[0].network_id = "net-b";
  other.ports[0].mac = "FA:16:3E:00:04:07";
  ASSERT_TRUE(store_->CreateInstance(other));
  auto from = [&](const std::string& peer) {
    auto req = std::make_shared<http::Request>();
    req->message = bhttp::request<bhttp::string_body>(bhttp::verb::get,
                                                      "/openstack/latest/meta_data.json", 11);
    req->peer.address = peer;
    return asio::co_spawn(
               ioc_,
               [this, req]() -> asio::awaitable<http::Response> {
                 co_return co_await api_->Handle(*req, Identification::kSourceAddress);
               },
               asio::use_future)
        .get();
  };
  http::Response a = from("fe80::f816:3eff:fe00:1");
  EXPECT_EQ(a.status, 200u);
  EXPECT_NE(a.body.find(kUuid), std::string::npos) << a.body;
  http::Response b = from("fe80::f816:3eff:fe00:407");
  EXPECT_EQ(b.status, 200u);
  EXPECT_NE(b.body.find(other.uuid), std::string::npos) << b.body;
  EXPECT_EQ(from("fe80::f816:3eff:fe00:408").status, 404u);
  // The same MAC on a second network: no answer rather than a guess.
  core::Instance twin = other;
  twin.uuid = "33333333-3333-4333-8333-333333333333";
  twin.ports[0].network_id = "net-a";
  twin.ports[0].subnets[0].ip_address = "10.0.0.9";
  ASSERT_TRUE(store_->CreateInstance(twin));
  EXPECT_EQ(from("fe80::f816:3eff:fe00:407").status, 404u);
}

TEST_F(ApiTest, TrustedProxyNamesTheClient) {
  RawClient c;
  // Connect from 127.0.0.2 (a trusted proxy) by binding the client socket.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in me{};
  me.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.2", &me.sin_addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(ip_port_);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  std::string req =
      "GET /latest/meta-data/instance-id HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1, 10.0.0.5\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char buf[4096];
  std::string got;
  for (int i = 0; i < 50 && got.find("\r\n\r\n") == std::string::npos; ++i) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  Reply r = ParseRawReply(got);
  EXPECT_EQ(r.status, 200u) << got;
  EXPECT_TRUE(got.ends_with("i-b65cee2f")) << got;
}

TEST_F(ApiTest, ProviderVariant) {
  ASSERT_TRUE(store_->CreateRouter({"edge-1", "edge", kProject, 0, ""}));
  ASSERT_TRUE(store_->SetNetworkRouter("net-a", "edge-1"));
  std::string headers = "X-Metadata-Provider: edge-1\r\nX-Metadata-Provider-Signature: " +
                        core::SignInstanceId(kSecret, "edge-1") +
                        "\r\nX-Forwarded-For: 10.0.0.5\r\n";
  Reply r = Get("/latest/meta-data/instance-id", headers);
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.body, "i-b65cee2f");
  Reply bad = Get("/latest/meta-data/instance-id",
                  "X-Metadata-Provider: edge-1\r\nX-Metadata-Provider-Signature: "
                  "x\r\nX-Forwarded-For: 10.0.0.5\r\n");
  EXPECT_EQ(bad.status, 403u);
  Reply none =
      Get("/latest/meta-data/instance-id",
          "X-Metadata-Provider: edge-1\r\nX-Metadata-Provider-Signature: " +
              core::SignInstanceId(kSecret, "edge-1") + "\r\nX-Forwarded-For: 10.0.0.6\r\n");
  EXPECT_EQ(none.status, 400u);
  EXPECT_EQ(
      none.body,
      "400 Bad Request\n\nExpected a single port matching provider edge-1 and IP 10.0.0.6.\n\n   ");
  EXPECT_EQ(Get("/latest/meta-data/instance-id", "X-Metadata-Provider: edge-1\r\n").body,
            "400 Bad Request\n\nX-Forwarded-For is missing from request.\n\n   ");
}

TEST_F(ApiTest, MetricsCountRequests) {
  Get("/openstack/latest/meta_data.json", Signed());
  Get("/openstack/latest/nothing", Signed());
  std::string text = metrics_.Render();
  EXPECT_NE(text.find("metastack_api_requests_total{path=\"openstack\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  // An unknown file is no OpenStack path: it is counted apart.
  EXPECT_NE(text.find("metastack_api_requests_total{path=\"other\",status=\"404\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("metastack_api_request_seconds_count{path=\"openstack\"} 1"),
            std::string::npos);
}

// An instance may make 3 requests at once, then one an hour: the fourth is refused, told to
// come back in 3600 s (the test never runs for a second of it).
class RateLimitTest : public ApiTest {
 protected:
  void Configure(ApiOptions& options) override { options.rate_limit = {1.0 / 3600, 3}; }

  // A second instance owning 127.0.0.1 and ::1, found by source address.
  void AddLocalInstance() {
    core::Instance local = Example();
    local.uuid = kLocal;
    local.ec2.instance_id = "i-11111111";
    local.ports[0].id = "port-2";
    local.ports[0].subnets[0].cidr = "127.0.0.0/8";
    local.ports[0].subnets[0].ip_address = "127.0.0.1";
    local.ports[0].subnets.push_back(local.ports[0].subnets[0]);
    local.ports[0].subnets[1].cidr = "::1/128";
    local.ports[0].subnets[1].ip_address = "::1";
    ASSERT_TRUE(store_->CreateInstance(local));
  }
  Reply SendFrom(bool v6, uint16_t port, const std::string& path) {
    RawClient c = v6 ? RawClient::Tcp6(port) : RawClient::Tcp(port);
    c.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return ParseRawReply(c.ReadResponse());
  }
  double RateLimited() {
    std::string text = metrics_.Render();
    std::string name = "\nmetastack_api_rate_limited_total ";
    size_t at = text.find(name);
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size()));
  }

  static constexpr char kLocal[] = "11111111-1111-4111-8111-111111111111";
  const std::string kTooMany =
      "429 Too Many Requests\n\nThe client has sent too many requests in a given amount of "
      "time.\n\n   ";
};

TEST_F(RateLimitTest, AfterTheBurstAnInstanceGets429WithRetryAfter) {
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(Get("/latest/meta-data/instance-id", Signed()).status, 200u);
  Reply r = Get("/openstack/latest/meta_data.json", Signed());
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.body, kTooMany);
  EXPECT_NE(r.headers.find("\r\nRetry-After: 3600\r\n"), std::string::npos) << r.headers;
  Reply head = Send(signed_port_, "HEAD /openstack/latest/meta_data.json HTTP/1.1\r\n" + Signed());
  EXPECT_EQ(head.status, 429u);
  EXPECT_NE(head.headers.find("\r\nRetry-After: 3600\r\n"), std::string::npos);
  // Answers that need no identity take no token.
  EXPECT_EQ(Get("/", Signed()).status, 200u);
  // Another instance has its own bucket.
  AddLocalInstance();
  EXPECT_EQ(Get("/latest/meta-data/instance-id", Signed(kLocal, kProject, "127.0.0.1")).status,
            200u);
  EXPECT_EQ(RateLimited(), 2);
  EXPECT_NE(
      metrics_.Render().find("metastack_api_requests_total{path=\"openstack\",status=\"429\"} 2"),
      std::string::npos);
}

TEST_F(RateLimitTest, TheIPv4AndIPv6AddressesOfAnInstanceShareABucket) {
  AddLocalInstance();
  http::Server dual(ioc_, http::ServerLimits{});
  auto ep = dual.ListenTcp("::", 0, api_->Handler(Identification::kSourceAddress));
  ASSERT_TRUE(ep) << ep.error().ToString();
  const std::string path = "/latest/meta-data/instance-id";
  EXPECT_EQ(SendFrom(false, ep->port(), path).body, "i-11111111");
  EXPECT_EQ(SendFrom(true, ep->port(), path).body, "i-11111111");
  EXPECT_EQ(SendFrom(false, ep->port(), path).status, 200u);
  Reply v6 = SendFrom(true, ep->port(), path);
  EXPECT_EQ(v6.status, 429u);
  EXPECT_EQ(v6.body, kTooMany);
  EXPECT_EQ(SendFrom(false, ep->port(), path).status, 429u);
  // The instance behind the agent is unaffected.
  EXPECT_EQ(Get(path, Signed()).body, "i-b65cee2f");
  std::promise<void> stopped;
  asio::post(ioc_, [&] {
    dual.Stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

class NoRateLimitTest : public ApiTest {
 protected:
  void Configure(ApiOptions& options) override { options.rate_limit.rate = 0; }
};

TEST_F(NoRateLimitTest, ZeroRateNeverRefuses) {
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(Get("/latest/meta-data/instance-id", Signed()).status, 200u) << i;
  EXPECT_EQ(api_->rate_limiter().tracked(), 0u);
}

}  // namespace
}  // namespace metastack::api

namespace metastack::api {
namespace {

asio::awaitable<http::Response> Ready(http::Response r) { co_return r; }

// vendor_data2.json with a dynamic target answering {"v": N}, N set by the test.
class DynamicVendorDataApiTest : public ApiTest {
 protected:
  void Configure(ApiOptions& options) override {
    target_ = std::make_unique<http::Server>(target_ioc_, http::ServerLimits{});
    auto ep = target_->ListenTcp("127.0.0.1", 0, [this](http::Request&) {
      http::Response r;
      r.content_type = "application/json";
      r.body = "{\"v\": " + std::to_string(version_.load()) + "}";
      return Ready(std::move(r));
    });
    target_thread_ = std::thread([this] { target_ioc_.run(); });
    options.vendordata.targets = {{"site", "http://127.0.0.1:" + std::to_string(ep->port())}};
  }
  void TearDown() override {
    ApiTest::TearDown();
    api_.reset();  // its idle target connections are on ioc_, which goes first otherwise
    asio::post(target_ioc_, [this] { target_->Stop(); });
    target_thread_.join();
  }

  asio::io_context target_ioc_;
  std::unique_ptr<http::Server> target_;
  std::thread target_thread_;
  std::atomic<int> version_{1};
};

TEST_F(DynamicVendorDataApiTest, AChangeOfTheInstanceServesTheNewAnswer) {
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json", Signed()).body,
            R"({"static": {}, "site": {"v": 1}})");
  // The other files are as without targets.
  EXPECT_EQ(Get("/openstack/latest/vendor_data.json", Signed()).body, "{}");
  version_ = 2;
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json", Signed()).body,
            R"({"static": {}, "site": {"v": 1}})");
  core::Instance edited = Example();
  edited.meta = {{"edited", "yes"}};
  ASSERT_TRUE(store_->ReplaceInstance(edited, std::nullopt));
  Reply r = Get("/openstack/2016-10-06/vendor_data2.json", Signed());
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.headers.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(r.body, R"({"static": {}, "site": {"v": 2}})");
  EXPECT_EQ(Get("/openstack/latest/vendor_data2.json", Signed()).body,
            R"({"static": {}, "site": {"v": 2}})");
  EXPECT_EQ(Get("/openstack/2016-06-30/vendor_data2.json", Signed()).status, 404u);
}

// A whole-tree answer holding vendor_data2.json carries the dynamic parts too, and its ETag
// (taken around meta_data.json's seed) stays put between answers until the target's answer
// changes with the instance.
TEST_F(DynamicVendorDataApiTest, WholeTreeAnswersCarryTheDynamicParts) {
  auto etag = [](const Reply& r) { return r.Field("ETag"); };
  Reply a = Get("/openstack/latest?recursive=true", Signed());
  ASSERT_EQ(a.status, 200u) << a.body;
  auto tree = core::Json::parse(a.body);
  EXPECT_EQ(tree["vendor_data2.json"], core::Json::parse(R"({"static": {}, "site": {"v": 1}})"));
  Reply b = Get("/openstack/latest?recursive=true", Signed());
  EXPECT_NE(a.body, b.body);  // each meta_data.json has its own fresh seed
  EXPECT_FALSE(etag(a).empty());
  EXPECT_EQ(etag(a), etag(b));
  version_ = 2;
  core::Instance edited = Example();
  edited.meta = {{"edited", "yes"}};
  ASSERT_TRUE(store_->ReplaceInstance(edited, std::nullopt));
  Reply c = Get("/openstack/latest?recursive=true", Signed());
  EXPECT_EQ(core::Json::parse(c.body)["vendor_data2.json"]["site"],
            core::Json::parse(R"({"v": 2})"));
  EXPECT_NE(etag(c), etag(a));
}

}  // namespace
}  // namespace metastack::api
