// IMDSv2 sessions through MetadataApi::Handle: every status with its exact body, on the signed
// and the source-address listeners, and the policy of instances, networks and the daemon.
#include "api/sessions.h"

#include <gtest/gtest.h>

#include <thread>

#include "api/service.h"
#include "core/signing.h"
#include "store/memory_store.h"

namespace metastack::api {
namespace {

constexpr char kSessionSecret[] = "s3cret";
constexpr char kSessionUuid[] = "b65cee2f-8c69-4aeb-be2f-f79742548fc2";
constexpr char kOtherUuid[] = "c0ffee00-0000-4000-8000-000000000001";
constexpr char kSessionProject[] = "proj-a";

core::Instance SessionInstance(const std::string& uuid, const std::string& ip,
                               const std::string& port) {
  core::Json doc = {
      {"uuid", uuid},
      {"hostname", "web-01"},
      {"project_id", kSessionProject},
      {"ports",
       {{{"id", port},
         {"mac", "fa:16:3e:00:00:0" + port.substr(port.size() - 1)},
         {"network_id", "net-a"},
         {"subnets", {{{"cidr", "10.0.0.0/24"}, {"ip_address", ip}, {"enable_dhcp", false}}}}}}}};
  return *core::ParseInstanceJson(doc);
}

std::string Plain(unsigned status, std::string_view reason, std::string_view explanation) {
  return std::to_string(status) + " " + std::string(reason) + "\n\n" + std::string(explanation) +
         "\n\n   ";
}

const std::string kBadTtl =
    Plain(400, "Bad Request",
          "X-aws-ec2-metadata-token-ttl-seconds must be a whole number of seconds in 1..21600.");
const std::string kRequiredBody =
    Plain(401, "Unauthorized", "A session token is required: PUT /latest/api/token first.");
const std::string kForwardedBody =
    Plain(403, "Forbidden", "A session token request must not carry X-Forwarded-For.");

// Runs a handler coroutine to its answer on an io_context of its own (kept running while the
// handler waits on the worker pool).
template <typename F>
http::Response RunHandler(F handler) {
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread thread([&] { ioc.run(); });
  auto answer = asio::co_spawn(ioc, std::move(handler), asio::use_future);
  http::Response r = answer.get();
  guard.reset();
  thread.join();
  return r;
}

std::string HeaderOf(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "<none>";
}

class SessionApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    ASSERT_TRUE(store_->CreateNetwork({"net-a", "a", kSessionProject, std::nullopt, 0, ""}));
    ASSERT_TRUE(store_->CreateInstance(SessionInstance(kSessionUuid, "10.0.0.5", "port-1")));
    ASSERT_TRUE(store_->CreateInstance(SessionInstance(kOtherUuid, "10.0.0.6", "port-2")));
    Start(core::HttpTokens::kOptional);
  }
  void Start(core::HttpTokens policy) {
    api_.reset();
    ApiOptions options;
    options.shared_secret = kSessionSecret;
    options.trusted_proxies = {*core::ParseCidr("192.0.2.1/32")};
    options.http_tokens = policy;
    api_ = std::make_unique<MetadataApi>(*store_, pool_, options, metrics_);
  }

  // One request as the API receives it: from the agent (signed, for `uuid`), or straight from
  // the guest at `peer` (source-address mode).
  http::Response Call(Identification mode, bhttp::verb method, const std::string& target,
                      std::vector<std::pair<std::string, std::string>> headers = {},
                      const std::string& uuid = kSessionUuid,
                      const std::string& peer = "10.0.0.5") {
    auto req = std::make_shared<http::Request>();
    req->message = bhttp::request<bhttp::string_body>(method, target, 11);
    req->peer.address = mode == Identification::kSigned ? "127.0.0.1" : peer;
    if (mode == Identification::kSigned) {
      headers.emplace_back("X-Instance-ID", uuid);
      headers.emplace_back("X-Tenant-ID", kSessionProject);
      headers.emplace_back("X-Instance-ID-Signature", core::SignInstanceId(kSessionSecret, uuid));
    }
    for (const auto& [k, v] : headers) req->message.insert(k, v);
    return RunHandler([this, req, mode]() -> asio::awaitable<http::Response> {
      co_return co_await api_->Handle(*req, mode);
    });
  }
  std::string Token(Identification mode = Identification::kSigned,
                    const std::string& uuid = kSessionUuid) {
    http::Response r = Call(mode, bhttp::verb::put, "/latest/api/token",
                            {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}}, uuid,
                            uuid == kSessionUuid ? "10.0.0.5" : "10.0.0.6");
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.body;
  }
  double Counter(const std::string& series) {
    std::string text = metrics_.Render();
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + series.size() + 2));
  }

  asio::thread_pool pool_{2};
  http::Metrics metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<MetadataApi> api_;
};

TEST_F(SessionApiTest, PutIssuesAToken) {
  for (auto mode : {Identification::kSigned, Identification::kSourceAddress}) {
    http::Response r = Call(mode, bhttp::verb::put, "/latest/api/token",
                            {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.content_type, "text/plain; charset=UTF-8");
    EXPECT_EQ(r.body.size(), 50u);
    EXPECT_EQ(HeaderOf(r, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");
    // Behind the proxy, the proxy sends it with hop limit 1; a source-address listener does.
    EXPECT_EQ(r.hop_limit, mode == Identification::kSigned ? 0 : 1);
  }
  // Firecracker's spelling, and a path the API routes as the token path.
  http::Response generic = Call(Identification::kSigned, bhttp::verb::put, "//latest/api/token/",
                                {{"X-metadata-token-ttl-seconds", "1"}});
  EXPECT_EQ(generic.status, 200u);
  EXPECT_EQ(HeaderOf(generic, "X-aws-ec2-metadata-token-ttl-seconds"), "1");
  EXPECT_EQ(Counter("metastack_api_tokens_issued_total"), 3);
}

TEST_F(SessionApiTest, BadTtlIs400) {
  for (std::string ttl : {"", "0", "21601", "60s", "-1", "6 0", "+60", "999999"}) {
    http::Response r = Call(Identification::kSigned, bhttp::verb::put, "/latest/api/token",
                            {{"X-aws-ec2-metadata-token-ttl-seconds", ttl}});
    EXPECT_EQ(r.status, 400u) << ttl;
    EXPECT_EQ(r.body, kBadTtl) << ttl;
  }
  http::Response missing = Call(Identification::kSigned, bhttp::verb::put, "/latest/api/token");
  EXPECT_EQ(missing.status, 400u);
  EXPECT_EQ(missing.body, kBadTtl);
  EXPECT_EQ(Counter("metastack_api_token_refusals_total{reason=\"bad_ttl\"}"), 9);
}

TEST_F(SessionApiTest, OtherMethodsOnTheTokenPathAre405) {
  for (auto method : {bhttp::verb::get, bhttp::verb::post, bhttp::verb::delete_}) {
    http::Response r = Call(Identification::kSigned, method, "/latest/api/token",
                            {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}});
    EXPECT_EQ(r.status, 405u);
    EXPECT_EQ(r.body, Plain(405, "Method Not Allowed", "A session token is requested with PUT."));
    EXPECT_EQ(HeaderOf(r, "Allow"), "PUT");
  }
  http::Response head = Call(Identification::kSigned, bhttp::verb::head, "/latest/api/token");
  EXPECT_EQ(head.status, 405u);
  EXPECT_EQ(head.body, "");
}

TEST_F(SessionApiTest, TokenOpensEveryPathOfItsInstance) {
  std::string token = Token();
  for (std::string path : {"/latest/meta-data/instance-id", "/openstack/latest/meta_data.json",
                           "/2009-04-04/meta-data/hostname"}) {
    http::Response r = Call(Identification::kSigned, bhttp::verb::get, path,
                            {{"X-aws-ec2-metadata-token", token}});
    EXPECT_EQ(r.status, 200u) << path << r.body;
  }
  http::Response generic = Call(Identification::kSigned, bhttp::verb::get,
                                "/latest/meta-data/instance-id", {{"X-metadata-token", token}});
  EXPECT_EQ(generic.status, 200u);
  EXPECT_EQ(generic.body, "i-b65cee2f");
  EXPECT_EQ(Counter("metastack_api_tokenless_requests_total{path=\"ec2\"}"), 0);
}

// A token that is sent must be valid, even under `optional` (as AWS).
TEST_F(SessionApiTest, BadTokenIs401EvenWhenOptional) {
  std::string mine = Token();
  std::string theirs = Token(Identification::kSigned, kOtherUuid);
  std::string tampered = mine;
  tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
  struct Case {
    std::string token, explanation;
  } cases[] = {
      {theirs, "token not valid for this instance"},
      {tampered, "token not valid for this instance"},
      {"not-a-token", "malformed token"},
  };
  for (const auto& c : cases) {
    http::Response r =
        Call(Identification::kSigned, bhttp::verb::get, "/latest/meta-data/instance-id",
             {{"X-aws-ec2-metadata-token", c.token}});
    EXPECT_EQ(r.status, 401u) << c.token;
    EXPECT_EQ(r.body, Plain(401, "Unauthorized", c.explanation)) << c.token;
  }
  // The other instance's token opens the other instance.
  EXPECT_EQ(Call(Identification::kSigned, bhttp::verb::get, "/latest/meta-data/instance-id",
                 {{"X-aws-ec2-metadata-token", theirs}}, kOtherUuid)
                .status,
            200u);
  EXPECT_EQ(Counter("metastack_api_token_refusals_total{reason=\"invalid\"}"), 3);
}

TEST_F(SessionApiTest, TokenlessUnderOptionalIsServedAndCounted) {
  EXPECT_EQ(Call(Identification::kSigned, bhttp::verb::get, "/latest/meta-data/").status, 200u);
  EXPECT_EQ(
      Call(Identification::kSigned, bhttp::verb::get, "/openstack/latest/meta_data.json").status,
      200u);
  EXPECT_EQ(Counter("metastack_api_tokenless_requests_total{path=\"ec2\"}"), 1);
  EXPECT_EQ(Counter("metastack_api_tokenless_requests_total{path=\"openstack\"}"), 1);
}

TEST_F(SessionApiTest, TokenlessUnderRequiredIs401) {
  Start(core::HttpTokens::kRequired);
  for (auto mode : {Identification::kSigned, Identification::kSourceAddress}) {
    http::Response r = Call(mode, bhttp::verb::get, "/latest/meta-data/instance-id");
    EXPECT_EQ(r.status, 401u);
    EXPECT_EQ(r.body, kRequiredBody);
    // The password too (GET and POST).
    EXPECT_EQ(Call(mode, bhttp::verb::post, "/openstack/latest/password").status, 401u);
  }
  std::string token = Token();
  EXPECT_EQ(Call(Identification::kSigned, bhttp::verb::get, "/latest/meta-data/instance-id",
                 {{"X-aws-ec2-metadata-token", token}})
                .status,
            200u);
  // The version list needs no identity, and so no token.
  EXPECT_EQ(Call(Identification::kSigned, bhttp::verb::get, "/").status, 200u);
  EXPECT_EQ(Counter("metastack_api_token_refusals_total{reason=\"missing\"}"), 4);
}

// The instance's own policy wins; else a network that requires tokens; else the daemon's.
TEST_F(SessionApiTest, PolicyOfInstanceNetworkAndDaemon) {
  auto status = [&](const std::string& uuid) {
    return Call(Identification::kSigned, bhttp::verb::get, "/latest/meta-data/instance-id", {},
                uuid)
        .status;
  };
  EXPECT_EQ(status(kSessionUuid), 200u);
  ASSERT_TRUE(store_->SetNetworkHttpTokens("net-a", core::HttpTokens::kRequired));
  EXPECT_EQ(status(kSessionUuid), 401u);  // the feed dropped the cached network policy
  auto rec = store_->GetInstance(kSessionUuid);
  core::Instance relaxed = rec->instance;
  relaxed.metadata_options.http_tokens = core::HttpTokens::kOptional;
  ASSERT_TRUE(store_->ReplaceInstance(relaxed, rec->revision));
  EXPECT_EQ(status(kSessionUuid), 200u);
  EXPECT_EQ(status(kOtherUuid), 401u);
  ASSERT_TRUE(store_->SetNetworkHttpTokens("net-a", core::HttpTokens::kOptional));
  EXPECT_EQ(status(kOtherUuid), 200u);
  // A network's `optional` does not relax the daemon's `required`; an instance's does.
  Start(core::HttpTokens::kRequired);
  EXPECT_EQ(status(kOtherUuid), 401u);
  EXPECT_EQ(status(kSessionUuid), 200u);
}

TEST_F(SessionApiTest, ForwardedTokenRequestIs403OnSourceAddressListeners) {
  // From the guest itself: any X-Forwarded-For.
  http::Response r =
      Call(Identification::kSourceAddress, bhttp::verb::put, "/latest/api/token",
           {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"X-Forwarded-For", "10.0.0.5"}});
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.body, kForwardedBody);
  // Through a trusted proxy: the proxy's own X-Forwarded-For is fine, an address the guest put
  // before it is not.
  http::Response proxied =
      Call(Identification::kSourceAddress, bhttp::verb::put, "/latest/api/token",
           {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"X-Forwarded-For", "10.0.0.5"}},
           kSessionUuid, "192.0.2.1");
  EXPECT_EQ(proxied.status, 200u) << proxied.body;
  http::Response relayed = Call(
      Identification::kSourceAddress, bhttp::verb::put, "/latest/api/token",
      {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"X-Forwarded-For", "172.16.0.9, 10.0.0.5"}},
      kSessionUuid, "192.0.2.1");
  EXPECT_EQ(relayed.status, 403u);
  EXPECT_EQ(relayed.body, kForwardedBody);
  EXPECT_EQ(Counter("metastack_api_token_refusals_total{reason=\"forwarded\"}"), 2);
  // A GET with X-Forwarded-For is no token request.
  EXPECT_EQ(Call(Identification::kSourceAddress, bhttp::verb::get, "/latest/meta-data/",
                 {{"X-Forwarded-For", "10.0.0.9"}})
                .status,
            200u);
}

// Tokens are stateless: another API (another node) with the same secret accepts them.
TEST_F(SessionApiTest, AnotherNodeWithTheSameSecretAcceptsTheToken) {
  std::string token = Token();
  http::Metrics other_metrics;
  ApiOptions options;
  options.shared_secret = kSessionSecret;
  MetadataApi other(*store_, pool_, options, other_metrics);
  auto req = std::make_shared<http::Request>();
  req->message = bhttp::request<bhttp::string_body>(bhttp::verb::get, "/latest/meta-data/", 11);
  req->message.insert("X-Instance-ID", kSessionUuid);
  req->message.insert("X-Tenant-ID", kSessionProject);
  req->message.insert("X-Instance-ID-Signature",
                      core::SignInstanceId(kSessionSecret, kSessionUuid));
  req->message.insert("X-aws-ec2-metadata-token", token);
  http::Response r = RunHandler([&]() -> asio::awaitable<http::Response> {
    co_return co_await other.Handle(*req, Identification::kSigned);
  });
  EXPECT_EQ(r.status, 200u);
}

}  // namespace
}  // namespace metastack::api
