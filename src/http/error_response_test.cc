#include "http/error_response.h"

#include <gtest/gtest.h>

namespace metastack::http {
namespace {

TEST(ErrorResponseTest, NotFoundIsNovasPageAndHidesTheMessage) {
  auto a = ErrorResponse(MakeError(ErrorCode::kNotFound, "instance 42 is not in shard 7"));
  EXPECT_EQ(a.status, 404u);
  EXPECT_EQ(a.content_type, "text/plain; charset=UTF-8");
  EXPECT_EQ(a.body, "404 Not Found\n\nThe resource could not be found.\n\n   ");
}

TEST(ErrorResponseTest, BadRequestShowsTheExplanation) {
  auto a = ErrorResponse(
      MakeError(ErrorCode::kInvalidArgument, "X-Instance-ID header is missing from request."));
  EXPECT_EQ(a.status, 400u);
  EXPECT_EQ(a.body, "400 Bad Request\n\nX-Instance-ID header is missing from request.\n\n   ");
}

TEST(ErrorResponseTest, ForbiddenAndConflict) {
  EXPECT_EQ(ErrorResponse(MakeError(ErrorCode::kPermissionDenied, "Invalid proxy request signature."))
                .body,
            "403 Forbidden\n\nInvalid proxy request signature.\n\n   ");
  EXPECT_EQ(ErrorResponse(MakeError(ErrorCode::kConflict, "password already set")).body,
            "409 Conflict\n\nThere was a conflict when trying to complete your request.\n\n   ");
}

TEST(ErrorResponseTest, InternalNeverLeaksDetail) {
  auto a = ErrorResponse(MakeError(ErrorCode::kInternal, "sqlite: disk I/O error at page 12"));
  EXPECT_EQ(a.status, 500u);
  EXPECT_EQ(a.body,
            "500 Internal Server Error\n\nAn unknown error has occurred. Please try your request "
            "again.\n\n   ");
}

TEST(ErrorResponseTest, TooManyRequestsSaysWhenToComeBack) {
  auto a = ErrorResponse(MakeError(ErrorCode::kResourceExhausted, "instance 42 over its rate"),
                         false, std::chrono::seconds(3));
  EXPECT_EQ(a.status, 429u);
  EXPECT_EQ(a.body,
            "429 Too Many Requests\n\nThe client has sent too many requests in a given amount of "
            "time.\n\n   ");
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0], (std::pair<std::string, std::string>{"Retry-After", "3"}));
  auto head =
      ErrorResponse(MakeError(ErrorCode::kResourceExhausted, ""), true, std::chrono::seconds(1));
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.headers.size(), 1u);
  EXPECT_TRUE(ErrorResponse(MakeError(ErrorCode::kNotFound, "")).headers.empty());
}

TEST(ErrorResponseTest, UpstreamFailuresNeverNameTheUpstream) {
  auto down = ErrorResponse(MakeError(ErrorCode::kUnavailable, "http://127.0.0.1:8775: Connection refused"));
  EXPECT_EQ(down.status, 502u);
  EXPECT_EQ(down.body, "502 Bad Gateway\n\nThe upstream server is unavailable.\n\n   ");
  auto slow = ErrorResponse(MakeError(ErrorCode::kTimeout, "unix:/run/metastack/agent.sock: no answer"));
  EXPECT_EQ(slow.status, 504u);
  EXPECT_EQ(slow.body, "504 Gateway Timeout\n\nThe upstream server did not answer in time.\n\n   ");
}

}  // namespace
}  // namespace metastack::http
