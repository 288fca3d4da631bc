// The admin API's bearer-token check (admin/handler.h): what an operator reads without a token,
// with a wrong one and with the right one, and that nothing outside /v1 asks for one.
#include <gtest/gtest.h>

#include "admin/handler.h"
#include "store/memory_store.h"

namespace metastack::admin {
namespace {

constexpr char kToken[] = "0123456789abcdef";
constexpr char kMissing[] =
    R"({"error":{"code":"unauthenticated","message":"an Authorization: Bearer token is required"}})";
constexpr char kWrong[] = R"({"error":{"code":"permission_denied","message":"wrong token"}})";

asio::awaitable<http::Response> Fallback(http::Request& req) {
  http::Response r;
  r.content_type = "text/plain";
  r.body = "fallback " + std::string(req.message.target());
  co_return r;
}

class AuthTest : public ::testing::Test {
 protected:
  // The handler's answer to GET `target` with `authorization` ("" sends no such header).
  http::Response Get(const std::string& target, const std::string& authorization,
                     const std::string& token = kToken) {
    http::Handler handler = MakeAdminHandler(*store_, pool_, token, Fallback);
    http::Request req;
    req.message = bhttp::request<bhttp::string_body>(bhttp::verb::get, target, 11);
    if (!authorization.empty()) req.message.set(bhttp::field::authorization, authorization);
    asio::io_context ioc;
    auto answer = asio::co_spawn(ioc, handler(req), asio::use_future);
    ioc.run();
    return answer.get();
  }
  static std::string Header(const http::Response& r, const std::string& name) {
    for (const auto& [n, v] : r.headers)
      if (n == name) return v;
    return "(absent)";
  }

  asio::thread_pool pool_{1};
  std::unique_ptr<store::Store> store_ = store::NewMemoryStore();
};

TEST_F(AuthTest, WithoutABearerTokenIs401) {
  for (const char* authorization : {"", "Basic MDEyMzQ1Njc4OWFiY2RlZg==", "Bearer", kToken}) {
    http::Response r = Get("/v1/instances", authorization);
    EXPECT_EQ(r.status, 401u) << authorization;
    EXPECT_EQ(r.content_type, "application/json") << authorization;
    EXPECT_EQ(r.body, kMissing) << authorization;
    EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer") << authorization;
  }
}

TEST_F(AuthTest, AnyOtherTokenIs403) {
  const std::string right = kToken;
  for (const std::string& other : {std::string("wrong"), right.substr(0, right.size() - 1),
                                   right + "0", right.substr(0, right.size() - 1) + "0",
                                   "x" + right.substr(1), std::string("0123456789ABCDEF")}) {
    http::Response r = Get("/v1/instances", "Bearer " + other);
    EXPECT_EQ(r.status, 403u) << other;
    EXPECT_EQ(r.body, kWrong) << other;
    EXPECT_EQ(Header(r, "WWW-Authenticate"), "(absent)") << other;
  }
}

TEST_F(AuthTest, TheRightTokenReachesTheApi) {
  for (const char* target : {"/v1/instances", "/v1/instances?limit=1"}) {
    http::Response r = Get(target, std::string("Bearer ") + kToken);
    EXPECT_EQ(r.status, 200u) << target << ": " << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["instances"], nlohmann::json::array()) << target;
  }
  EXPECT_EQ(Get("/v1/nothing-here", std::string("Bearer ") + kToken).status, 404u);
}

TEST_F(AuthTest, AnEmptyConfiguredTokenRefusesEveryone) {
  for (const char* token : {"x", kToken}) {
    http::Response r = Get("/v1/instances", std::string("Bearer ") + token, "");
    EXPECT_EQ(r.status, 403u) << token;
    EXPECT_EQ(r.body, kWrong) << token;
  }
  EXPECT_EQ(Get("/v1/instances", "Bearer ", "").status, 401u);  // an empty one is no token
  EXPECT_EQ(Get("/v1/instances", "", "").status, 401u);
}

TEST_F(AuthTest, OnlyV1NeedsAToken) {
  EXPECT_EQ(Get("/v1", "").status, 401u);
  EXPECT_EQ(Get("/v1/", "").status, 401u);
  for (const char* target : {"/healthz", "/metrics", "/v1x", "/v2/instances"}) {
    http::Response r = Get(target, "");
    EXPECT_EQ(r.status, 200u) << target;
    EXPECT_EQ(r.body, std::string("fallback ") + target);
  }
}

}  // namespace
}  // namespace metastack::admin
