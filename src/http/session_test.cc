#include "http/session.h"

#include <gtest/gtest.h>

#include "http/headers.h"

namespace metastack::http {
namespace {

TEST(SessionTest, TokenPathAsTheApiRoutesIt) {
  for (std::string_view yes : {"/latest/api/token", "/latest/api/token/", "//latest//api/token",
                               "/latest/./api/x/../token"})
    EXPECT_TRUE(IsSessionTokenPath(yes)) << yes;
  for (std::string_view no : {"/latest/api", "/latest/api/token/x", "/2009-04-04/api/token",
                              "/ec2/latest/api/token", "/latest/api/tokens", "/"})
    EXPECT_FALSE(IsSessionTokenPath(no)) << no;
}

Request Make(bhttp::verb method, std::string target, bool forwarded) {
  Request req;
  req.message.method(method);
  req.message.target(target);
  if (forwarded) req.message.set(std::string(header::kForwardedFor), "10.0.0.9");
  return req;
}

TEST(SessionTest, ForwardedTokenRequestIsAPutOnTheTokenPathWithXForwardedFor) {
  EXPECT_TRUE(IsForwardedTokenRequest(Make(bhttp::verb::put, "/latest/api/token", true)));
  EXPECT_TRUE(IsForwardedTokenRequest(Make(bhttp::verb::put, "/latest/api/%74oken?x=1", true)));
  EXPECT_FALSE(IsForwardedTokenRequest(Make(bhttp::verb::put, "/latest/api/token", false)));
  EXPECT_FALSE(IsForwardedTokenRequest(Make(bhttp::verb::get, "/latest/api/token", true)));
  EXPECT_FALSE(IsForwardedTokenRequest(Make(bhttp::verb::put, "/latest/meta-data/", true)));
}

}  // namespace
}  // namespace metastack::http
