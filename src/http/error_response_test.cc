#include "http/error_response.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

namespace metastack::http {
namespace {

using Header = std::pair<std::string, std::string>;

// Every code, with the message "detail at /var/lib/x" (shown only where the code echoes it).
struct Expected {
  unsigned status;
  std::string plain;
};
const std::map<ErrorCode, Expected>& EveryCode() {
  static const std::map<ErrorCode, Expected> kEvery = {
      {ErrorCode::kInvalidArgument, {400, "400 Bad Request\n\nf: detail at /var/lib/x\n\n   "}},
      {ErrorCode::kUnauthenticated, {401, "401 Unauthorized\n\nf: detail at /var/lib/x\n\n   "}},
      {ErrorCode::kPermissionDenied, {403, "403 Forbidden\n\nf: detail at /var/lib/x\n\n   "}},
      {ErrorCode::kNotFound, {404, "404 Not Found\n\nThe resource could not be found.\n\n   "}},
      {ErrorCode::kMethodNotAllowed,
       {405, "405 Method Not Allowed\n\nf: detail at /var/lib/x\n\n   "}},
      {ErrorCode::kConflict,
       {409, "409 Conflict\n\nThere was a conflict when trying to complete your request.\n\n   "}},
      {ErrorCode::kAborted,
       {409, "409 Conflict\n\nThere was a conflict when trying to complete your request.\n\n   "}},
      {ErrorCode::kTooLarge, {413, "413 Payload Too Large\n\nf: detail at /var/lib/x\n\n   "}},
      {ErrorCode::kResourceExhausted,
       {429,
        "429 Too Many Requests\n\nThe client has sent too many requests in a given amount "
        "of time.\n\n   "}},
      {ErrorCode::kUnavailable,
       {502, "502 Bad Gateway\n\nThe upstream server is unavailable.\n\n   "}},
      {ErrorCode::kTimeout,
       {504, "504 Gateway Timeout\n\nThe upstream server did not answer in time.\n\n   "}},
      {ErrorCode::kInternal,
       {500,
        "500 Internal Server Error\n\nAn unknown error has occurred. Please try your request "
        "again.\n\n   "}},
  };
  return kEvery;
}

TEST(ErrorResponseTest, EveryCodeHasItsStatusAndNovasPage) {
  for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) {
    auto code = static_cast<ErrorCode>(c);
    auto it = EveryCode().find(code);
    ASSERT_NE(it, EveryCode().end())
        << "code " << c << " (" << ErrorCodeName(code) << ") is not in this table";
    Response r = ErrorResponse(MakeError(code, "detail at /var/lib/x", "f"));
    EXPECT_EQ(r.status, it->second.status) << ErrorCodeName(code);
    EXPECT_EQ(ErrorStatus(MakeError(code, "")), it->second.status) << ErrorCodeName(code);
    EXPECT_EQ(r.content_type, "text/plain; charset=UTF-8");
    EXPECT_EQ(r.body, it->second.plain) << ErrorCodeName(code);
    EXPECT_TRUE(r.headers.empty());
    EXPECT_FALSE(r.close);
  }
}

TEST(ErrorResponseTest, EveryCodeHasItsJsonBody) {
  for (const auto& [code, expected] : EveryCode()) {
    Response r = ErrorResponse(MakeError(code, "detail at /var/lib/x", "ports[0].network_id"),
                               {.body = ErrorBody::kJson});
    EXPECT_EQ(r.status, expected.status) << ErrorCodeName(code);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, R"({"error":{"code":")" + std::string(ErrorCodeName(code)) +
                          R"(","message":"detail at /var/lib/x","field":"ports[0].network_id"}})");
  }
  // No field, no "field".
  EXPECT_EQ(
      ErrorResponse(MakeError(ErrorCode::kNotFound, "no such resource"), {.body = ErrorBody::kJson})
          .body,
      R"({"error":{"code":"not_found","message":"no such resource"}})");
  EXPECT_EQ(ErrorJson(MakeError(ErrorCode::kAborted, "changed")).dump(),
            R"({"error":{"code":"aborted","message":"changed"}})");
}

TEST(ErrorResponseTest, AnUnmappedCodeIsAnInternalError) {
  Error odd = MakeError(static_cast<ErrorCode>(999), "sqlite: disk I/O error at page 12");
  Response r = ErrorResponse(odd);
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(r.body, EveryCode().at(ErrorCode::kInternal).plain);
  EXPECT_EQ(ErrorStatus(odd), 500u);
  Response json = ErrorResponse(odd, {.body = ErrorBody::kJson});
  EXPECT_EQ(json.status, 500u);
  EXPECT_EQ(json.body,
            R"({"error":{"code":"internal","message":"sqlite: disk I/O error at page 12"}})");
}

TEST(ErrorResponseTest, AnEmptyMessageShowsTheDefaultExplanation) {
  EXPECT_EQ(ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "")).body,
            "400 Bad Request\n\nThe server could not comply with the request since it is either "
            "malformed or otherwise incorrect.\n\n   ");
  EXPECT_EQ(ErrorResponse(MakeError(ErrorCode::kTooLarge, "")).body,
            "413 Payload Too Large\n\nRequest is too large.\n\n   ");
}

TEST(ErrorResponseTest, HeadHasNoBodyAndWebobsContentType) {
  Response r = ErrorResponse(MakeError(ErrorCode::kNotFound, "x"), {.head = true});
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.content_type, "text/html; charset=UTF-8");
  EXPECT_EQ(r.body, "");
}

TEST(ErrorResponseTest, TooManyRequestsSaysWhenToComeBack) {
  Response r = ErrorResponse(MakeError(ErrorCode::kResourceExhausted, "instance 42 over its rate"),
                             {.retry_after = std::chrono::seconds(3)});
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.headers, (std::vector<Header>{{"Retry-After", "3"}}));
  Response head = ErrorResponse(MakeError(ErrorCode::kResourceExhausted, ""),
                                {.head = true, .retry_after = std::chrono::seconds(1)});
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.headers, (std::vector<Header>{{"Retry-After", "1"}}));
  Response json = ErrorResponse(MakeError(ErrorCode::kResourceExhausted, "slow down"),
                                {.body = ErrorBody::kJson, .retry_after = std::chrono::seconds(2)});
  EXPECT_EQ(json.headers, (std::vector<Header>{{"Retry-After", "2"}}));
}

TEST(ErrorResponseTest, TheTransportsOwnStatusKeepsTheCodesExplanation) {
  Response r = ErrorResponse(
      MakeError(ErrorCode::kTooLarge, "Request header fields are too large."), {.status = 431});
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(r.body,
            "431 Request Header Fields Too Large\n\nRequest header fields are too large.\n\n   ");
}

TEST(ErrorResponseTest, ReasonPhrasesAreBeasts) {
  EXPECT_EQ(ReasonPhrase(200), "OK");
  EXPECT_EQ(ReasonPhrase(413), "Payload Too Large");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(503), "Service Unavailable");
}

}  // namespace
}  // namespace metastack::http
