// The metadata service as a Tree (the session token, statuses as error codes, paths) and the
// base URLs it accepts, against the scripted server of service_test_server.h.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/log.h"
#include "guest/service.h"
#include "guest/service_test_server.h"

namespace metastack::guest {
namespace {

constexpr const char* kMetaDataPath = "openstack/latest/meta_data.json";

ServiceOptions TreeOptions(const std::string& url) {
  ServiceOptions options;
  options.base_url = url;
  options.retry_delay = std::chrono::milliseconds(1);
  return options;
}

std::string TokenOf(const Received& request) {
  auto it = request.headers.find("x-aws-ec2-metadata-token");
  return it == request.headers.end() ? "(none)" : it->second;
}

TEST(ServiceTreeTest, AGrantedTokenGoesWithEveryRead) {
  ScriptedServer server(AF_INET, {{CannedAnswer(200, "token-1")},
                                  {CannedAnswer(200, "{}")},
                                  {CannedAnswer(200, "user data")}});
  auto tree = ServiceTree(TreeOptions(server.Url()));
  EXPECT_EQ(tree->token(), std::nullopt);
  EXPECT_EQ(tree->Read(kMetaDataPath).value(), "{}");
  EXPECT_EQ(tree->Read("openstack/latest/user_data").value(), "user data");
  // The password's requests, made beside the tree, carry the same token.
  EXPECT_EQ(tree->token(), "token-1");
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].target, "/latest/api/token");
  EXPECT_EQ(requests[0].headers["x-aws-ec2-metadata-token-ttl-seconds"], "300");
  EXPECT_EQ(requests[0].headers["content-length"], "0");
  EXPECT_EQ(TokenOf(requests[0]), "(none)");
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].target, "/openstack/latest/meta_data.json");
  EXPECT_EQ(TokenOf(requests[1]), "token-1");
  EXPECT_EQ(requests[2].target, "/openstack/latest/user_data");
  EXPECT_EQ(TokenOf(requests[2]), "token-1");
}

// Whatever the token request gets other than 200 and a token, reads go without one; the token
// is not asked for again.
TEST(ServiceTreeTest, NoTokenUnlessOneIsGranted) {
  std::vector<std::vector<Step>> refusals = {
      {{CannedAnswer(404, "")}},
      {{CannedAnswer(405, "")}},
      {{CannedAnswer(403, "")}},
      {{CannedAnswer(200, "")}},
      {{CannedAnswer(200, "two\r\nlines")}},
      {{""}, {""}, {""}},  // no answer, three times
  };
  for (auto steps : refusals) {
    size_t asked = steps.size();
    steps.push_back({CannedAnswer(200, "{}")});
    steps.push_back({CannedAnswer(200, "{}")});
    ScriptedServer server(AF_INET, steps);
    auto tree = ServiceTree(TreeOptions(server.Url()));
    EXPECT_EQ(tree->Read(kMetaDataPath).value(), "{}") << steps[0].answer;
    EXPECT_EQ(tree->Read(kMetaDataPath).value(), "{}") << steps[0].answer;
    auto requests = server.Requests();
    ASSERT_EQ(requests.size(), asked + 2) << steps[0].answer;
    EXPECT_EQ(requests[asked].method, "GET");
    EXPECT_EQ(TokenOf(requests[asked]), "(none)") << steps[0].answer;
    EXPECT_EQ(TokenOf(requests[asked + 1]), "(none)") << steps[0].answer;
  }
}

TEST(ServiceTreeTest, GoingWithoutATokenIsLoggedAtDebug) {
  ScriptedServer server(AF_INET, {{CannedAnswer(405, "")}, {CannedAnswer(200, "{}")}});
  SetLogLevel(LogLevel::kDebug);
  ::testing::internal::CaptureStderr();
  auto read = ServiceTree(TreeOptions(server.Url()))->Read(kMetaDataPath);
  std::string log = ::testing::internal::GetCapturedStderr();
  SetLogLevel(LogLevel::kInfo);
  EXPECT_TRUE(read) << read.error().ToString();
  EXPECT_NE(log.find(" DEBUG guest: no session token: " + server.Url() +
                     "/latest/api/token: status 405\n"),
            std::string::npos)
      << log;
}

TEST(ServiceTreeTest, A401WithATokenAsksForANewOneOnce) {
  ScriptedServer server(AF_INET, {{CannedAnswer(200, "token-1")},
                                  {CannedAnswer(401, "")},
                                  {CannedAnswer(200, "token-2")},
                                  {CannedAnswer(200, "{}")},
                                  {CannedAnswer(401, "")},
                                  {CannedAnswer(200, "token-3")},
                                  {CannedAnswer(401, "")}});
  auto tree = ServiceTree(TreeOptions(server.Url()));
  EXPECT_EQ(tree->Read(kMetaDataPath).value(), "{}");
  auto again = tree->Read(kMetaDataPath);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(again.error().message, server.Url() + "/openstack/latest/meta_data.json: status 401");
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 7u);
  std::vector<std::string> seen;
  for (const auto& r : requests) seen.push_back(r.method + " " + TokenOf(r));
  EXPECT_EQ(seen,
            (std::vector<std::string>{"PUT (none)", "GET token-1", "PUT (none)", "GET token-2",
                                      "GET token-2", "PUT (none)", "GET token-3"}));
}

TEST(ServiceTreeTest, A401WithoutATokenIsAnAnswer) {
  ScriptedServer server(AF_INET, {{CannedAnswer(404, "")}, {CannedAnswer(401, "")}});
  auto read = ServiceTree(TreeOptions(server.Url()))->Read(kMetaDataPath);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST(ServiceTreeTest, StatusesBecomeErrorCodes) {
  struct Case {
    std::vector<Step> answers;
    ErrorCode code;
    std::string reason;
  } cases[] = {
      {{{CannedAnswer(404, "Not Found")}}, ErrorCode::kNotFound, "status 404"},
      {{{CannedAnswer(403, "")}}, ErrorCode::kUnavailable, "status 403"},
      {{{CannedAnswer(500, "")}, {CannedAnswer(500, "")}, {CannedAnswer(500, "")}},
       ErrorCode::kUnavailable,
       "status 500"},
      {{{""}, {""}, {""}}, ErrorCode::kUnavailable, "connection closed without an answer"},
  };
  for (const Case& c : cases) {
    std::vector<Step> steps = {{CannedAnswer(404, "")}};  // no token
    steps.insert(steps.end(), c.answers.begin(), c.answers.end());
    ScriptedServer server(AF_INET, steps);
    auto read = ServiceTree(TreeOptions(server.Url()))->Read("openstack/latest/user_data");
    ASSERT_FALSE(read) << c.reason;
    EXPECT_EQ(read.error().code, c.code) << c.reason;
    EXPECT_EQ(read.error().message, server.Url() + "/openstack/latest/user_data: " + c.reason);
    EXPECT_EQ(server.Requests().size(), steps.size());
  }
}

TEST(ServiceTreeTest, PathsAreRelativeAndEscaped) {
  ScriptedServer server(AF_INET, {{CannedAnswer(404, "")}, {CannedAnswer(200, "key")}});
  auto tree = ServiceTree(TreeOptions(server.Url() + "/"));
  EXPECT_EQ(tree->Describe(), "metadata service " + server.Url() + "/");
  EXPECT_EQ(tree->Read("").error().code, ErrorCode::kInvalidArgument);
  for (const char* bad : {"/etc/passwd", "openstack/../../etc", "openstack//latest", "./x"}) {
    auto read = tree->Read(bad);
    ASSERT_FALSE(read) << bad;
    EXPECT_EQ(read.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(read.error().ToString(), std::string(bad) + ": not a relative path in a tree");
  }
  EXPECT_EQ(tree->Read("ec2/latest/meta-data/public-keys/0=my key%?#").value(), "key");
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, "/ec2/latest/meta-data/public-keys/0=my%20key%25%3F%23");
}

TEST(ServiceTreeTest, ReadsOverIpv6) {
  ScriptedServer server(AF_INET6, {{CannedAnswer(404, "")}, {CannedAnswer(200, "{}")}});
  EXPECT_EQ(server.Url(), "http://[::1]:" + std::to_string(server.port()));
  EXPECT_EQ(ServiceTree(TreeOptions(server.Url()))->Read(kMetaDataPath).value(), "{}");
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].headers["host"], "[::1]:" + std::to_string(server.port()));
}

TEST(ServiceUrlTest, TakesAddressLiteralsApart) {
  struct Case {
    std::string url;
    int family;
    std::string address;
    uint32_t scope_id;
    uint16_t port;
    std::string host, base;
  } cases[] = {
      {"http://169.254.169.254", AF_INET, "169.254.169.254", 0, 80, "169.254.169.254",
       "http://169.254.169.254"},
      {"http://169.254.169.254/", AF_INET, "169.254.169.254", 0, 80, "169.254.169.254",
       "http://169.254.169.254"},
      {"http://127.0.0.1:8775", AF_INET, "127.0.0.1", 0, 8775, "127.0.0.1:8775",
       "http://127.0.0.1:8775"},
      {"http://[::1]:80", AF_INET6, "::1", 0, 80, "[::1]", "http://[::1]:80"},
      {"http://[fe80::a9fe:a9fe%lo]", AF_INET6, "fe80::a9fe:a9fe", if_nametoindex("lo"), 80,
       "[fe80::a9fe:a9fe]", "http://[fe80::a9fe:a9fe%lo]"},
      {"http://[fe80::1%7]:8080/", AF_INET6, "fe80::1", 7, 8080, "[fe80::1]:8080",
       "http://[fe80::1%7]:8080"},
  };
  ASSERT_NE(if_nametoindex("lo"), 0u);
  for (const Case& c : cases) {
    auto url = ParseServiceUrl(c.url);
    ASSERT_TRUE(url) << url.error().ToString();
    EXPECT_EQ(url->family, c.family) << c.url;
    EXPECT_EQ(url->address, c.address) << c.url;
    EXPECT_EQ(url->scope_id, c.scope_id) << c.url;
    EXPECT_EQ(url->port, c.port) << c.url;
    EXPECT_EQ(url->host, c.host) << c.url;
    EXPECT_EQ(url->base, c.base) << c.url;
  }
}

TEST(ServiceUrlTest, RefusesEverythingElse) {
  struct Case {
    std::string url, reason;
  } cases[] = {
      {"https://169.254.169.254", "not an http:// URL"},
      {"169.254.169.254", "not an http:// URL"},
      {"http://metadata.google.internal",
       "the host is neither an IPv4 address nor a bracketed IPv6 address"},
      {"http://", "the host is neither an IPv4 address nor a bracketed IPv6 address"},
      {"http://169.254.169", "the host is neither an IPv4 address nor a bracketed IPv6 address"},
      {"http://fe80::1", "the host is neither an IPv4 address nor a bracketed IPv6 address"},
      {"http://169.254.169.254/openstack", "a base URL has no path, query or user"},
      {"http://169.254.169.254?x", "a base URL has no path, query or user"},
      {"http://user@169.254.169.254", "a base URL has no path, query or user"},
      {"http://169.254.169.254:", "bad port ''"},
      {"http://169.254.169.254:0", "bad port '0'"},
      {"http://169.254.169.254:65536", "bad port '65536'"},
      {"http://169.254.169.254:80x", "bad port '80x'"},
      {"http://[::1", "no ']' after the IPv6 address"},
      {"http://[::1]8080", "only ':port' may follow the host"},
      {"http://[169.254.169.254]", "not an IPv6 address: 169.254.169.254"},
      {"http://[fe80::a9fe:a9fe]", "a link-local address needs a zone (%interface)"},
      {"http://[::1%lo]", "a zone applies only to a link-local address"},
      {"http://[fe80::1%]", "an empty zone after '%'"},
      {"http://[fe80::1%no-such-if0]", "no interface no-such-if0"},
      {"http://[fe80::1%0]", "bad interface index 0"},
  };
  for (const Case& c : cases) {
    auto url = ParseServiceUrl(c.url);
    ASSERT_FALSE(url) << c.url;
    EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(url.error().message, c.url + ": " + c.reason);
  }
  // Requests and reads give the same error, before any connection.
  ServiceOptions options;
  options.base_url = "http://metadata";
  const std::string message =
      "http://metadata: the host is neither an IPv4 address nor a bracketed IPv6 address";
  EXPECT_EQ(HttpRequest(options, "GET", "/").error().message, message);
  EXPECT_EQ(ServiceTree(options)->Read(kMetaDataPath).error().message, message);
}

}  // namespace
}  // namespace metastack::guest
