// The metadata service's client against a scripted HTTP server on loopback: what it sends, how
// it reads answers (lengths, chunks, caps), what it retries, the session token, and base URLs.
// The end-to-end run against `metastack api` is in tests/integration.
#include "guest/service.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/version.h"
#include "guest/service_test_server.h"

namespace metastack::guest {
namespace {

using std::chrono::milliseconds;

constexpr const char* kMetaData = "/openstack/latest/meta_data.json";

ServiceOptions Options(const std::string& url) {
  ServiceOptions options;
  options.base_url = url;
  options.retry_delay = milliseconds(1);
  return options;
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(HttpRequestTest, SendsOneRequestPerConnectionAndReadsTheAnswer) {
  ScriptedServer server(AF_INET, {{CannedAnswer(200, "{\"uuid\": \"x\"}")}});
  auto answer = HttpRequest(Options(server.Url()), "GET", kMetaData);
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "{\"uuid\": \"x\"}");
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, kMetaData);
  EXPECT_EQ(requests[0].headers, (std::map<std::string, std::string>{
                                     {"host", "127.0.0.1:" + std::to_string(server.port())},
                                     {"user-agent", "metastack-guest/" + std::string(Version())},
                                     {"connection", "close"}}));
}

TEST(HttpRequestTest, SendsTheTokenAndTheBodyItIsGiven) {
  ScriptedServer server(AF_INET, {{CannedAnswer(201, "")}});
  auto answer =
      HttpRequest(Options(server.Url()), "POST", "/openstack/latest/password", "secret", "token-1");
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 201);
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, "secret");
  EXPECT_EQ(requests[0].headers["content-length"], "6");
  EXPECT_EQ(requests[0].headers["x-aws-ec2-metadata-token"], "token-1");
}

// Every framing an answer may have, each also written one byte at a time.
TEST(HttpRequestTest, ReadsEveryBodyFraming) {
  struct Case {
    std::string answer;
    int status;
    std::string body;
  } cases[] = {
      {CannedAnswer(404, "no such path"), 404, "no such path"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;name=value\r\nWiki\r\n"
       "5\r\npedia\r\nA\r\n in chunks\r\n0\r\nTrailer: ignored\r\n\r\n",
       200, "Wikipedia in chunks"},
      {"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200,
       "abc"},
      {"HTTP/1.0 200 OK\r\n\r\nto the end of the stream", 200, "to the end of the stream"},
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length:  2 \r\n\r\nok", 200, "ok"},
      {"HTTP/1.1 204 No Content\r\n\r\n", 204, ""},
      {"HTTP/1.1 200\nContent-Length: 3\n\nabc", 200, "abc"},
  };
  for (const Case& c : cases) {
    for (bool trickle : {false, true}) {
      ScriptedServer server(AF_INET, {{c.answer, false, trickle}});
      auto answer = HttpRequest(Options(server.Url()), "GET", kMetaData);
      ASSERT_TRUE(answer) << c.answer << ": " << answer.error().ToString();
      EXPECT_EQ(answer->status, c.status) << c.answer;
      EXPECT_EQ(answer->body, c.body) << c.answer;
    }
  }
}

TEST(HttpRequestTest, RetriesA5xxAndAConnectionClosedWithoutAnAnswer) {
  ScriptedServer server(AF_INET, {{CannedAnswer(500, "")}, {""}, {CannedAnswer(200, "ok")}});
  auto answer = HttpRequest(Options(server.Url()), "GET", kMetaData);
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "ok");
  EXPECT_EQ(server.Requests().size(), 3u);
}

TEST(HttpRequestTest, A5xxAfterTheLastAttemptIsTheAnswer) {
  ScriptedServer server(AF_INET, {{CannedAnswer(503, "a")}, {CannedAnswer(502, "b")}});
  auto options = Options(server.Url());
  options.attempts = 2;
  auto answer = HttpRequest(options, "GET", kMetaData);
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 502);
  EXPECT_EQ(answer->body, "b");
}

// A 501 too: Python's http.server, for one, answers a PUT with it.
TEST(HttpRequestTest, A4xxOrA501IsNotRetried) {
  for (int status : {400, 403, 404, 501}) {
    ScriptedServer server(AF_INET, {{CannedAnswer(status, "")}, {CannedAnswer(200, "")}});
    auto answer = HttpRequest(Options(server.Url()), "PUT", "/latest/api/token");
    ASSERT_TRUE(answer) << answer.error().ToString();
    EXPECT_EQ(answer->status, status);
    EXPECT_EQ(server.Requests().size(), 1u) << status;
  }
}

TEST(HttpRequestTest, ARateLimitIsRetried) {
  ScriptedServer server(AF_INET, {{CannedAnswer(429, "")}, {CannedAnswer(200, "ok")}});
  auto answer = HttpRequest(Options(server.Url()), "GET", kMetaData);
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST(HttpRequestTest, ARefusedConnectionIsTriedAttemptsTimes) {
  // Bound but not listening: a connection to it is refused, and no one else takes the port.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  ::testing::internal::CaptureStderr();
  auto answer = HttpRequest(Options(url), "GET", kMetaData);
  std::string log = ::testing::internal::GetCapturedStderr();
  close(fd);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(answer.error().message, url + kMetaData + ": connection refused");
  EXPECT_EQ(Count(log, url + kMetaData + ": connection refused; attempt 1 of 3, retrying in 1 ms"),
            1u)
      << log;
  EXPECT_EQ(Count(log, "attempt 2 of 3, retrying in 1 ms"), 1u) << log;
  EXPECT_EQ(Count(log, "retrying"), 2u) << log;
}

TEST(HttpRequestTest, ConnectionsClosedWithoutAnAnswerAreUnavailable) {
  ScriptedServer server(AF_INET, {{""}, {""}, {""}});
  auto answer = HttpRequest(Options(server.Url()), "GET", kMetaData);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(answer.error().message,
            server.Url() + kMetaData + ": connection closed without an answer");
  EXPECT_EQ(server.Requests().size(), 3u);
}

TEST(HttpRequestTest, AServerThatNeverAnswersTimesOut) {
  ScriptedServer server(AF_INET, {{"", true}, {"", true}});
  auto options = Options(server.Url());
  options.request_timeout = milliseconds(300);
  options.attempts = 2;
  auto start = std::chrono::steady_clock::now();
  auto answer = HttpRequest(options, "GET", kMetaData);
  ASSERT_FALSE(answer);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(answer.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(answer.error().message,
            server.Url() + kMetaData + ": no complete answer within 300 ms");
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST(HttpRequestTest, AConnectThatDoesNotFinishTimesOut) {
  // A listener whose accept queue is full (backlog 0, one connection waiting, never accepted)
  // drops further SYNs: a connect to it stays in progress.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size), 0);
  int queued = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(queued, reinterpret_cast<sockaddr*>(&address), size), 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  auto options = Options(url);
  options.connect_timeout = milliseconds(200);
  options.attempts = 1;
  auto answer = HttpRequest(options, "GET", kMetaData);
  close(queued);
  close(listener);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kTimeout);
  EXPECT_EQ(answer.error().message, url + kMetaData + ": connect timed out after 200 ms");
}

TEST(HttpRequestTest, ABodyOverTheCapIsRefusedAndNotRetried) {
  std::string over_64_mib = "HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\n\r\n";
  {
    ScriptedServer server(AF_INET, {{over_64_mib}, {over_64_mib}});
    auto answer = HttpRequest(Options(server.Url()), "GET", kMetaData);
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().code, ErrorCode::kTooLarge);
    EXPECT_EQ(answer.error().message,
              server.Url() + kMetaData + ": answer body over 67108864 bytes");
    EXPECT_EQ(server.Requests().size(), 1u);
  }
  // A body of exactly the cap is read, whatever its framing; one byte more is refused.
  for (const std::string& at_10 :
       std::vector<std::string>{CannedAnswer(200, "1234567890"),
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "6\r\n123456\r\n4\r\n7890\r\n0\r\n\r\n",
                                "HTTP/1.1 200 OK\r\n\r\n1234567890"}) {
    ScriptedServer server(AF_INET, {{at_10}});
    auto options = Options(server.Url());
    options.max_body_bytes = 10;
    auto answer = HttpRequest(options, "GET", kMetaData);
    ASSERT_TRUE(answer) << at_10 << ": " << answer.error().ToString();
    EXPECT_EQ(answer->body, "1234567890");
  }
  // Bodies whose size shows only as they arrive, against a cap of 10 bytes.
  for (std::string over_10 : {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "6\r\n123456\r\n5\r\n12345\r\n0\r\n\r\n",
                              "HTTP/1.1 200 OK\r\n\r\n12345678901"}) {
    ScriptedServer server(AF_INET, {{over_10}});
    auto options = Options(server.Url());
    options.max_body_bytes = 10;
    auto answer = HttpRequest(options, "GET", kMetaData);
    ASSERT_FALSE(answer) << over_10;
    EXPECT_EQ(answer.error().code, ErrorCode::kTooLarge) << over_10;
    EXPECT_EQ(answer.error().message, server.Url() + kMetaData + ": answer body over 10 bytes");
  }
}

TEST(HttpRequestTest, AMalformedAnswerIsAFailedAttempt) {
  struct Case {
    std::string answer;
    std::string reason;
  } cases[] = {
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed answer: status line 'SSH-2.0-OpenSSH_9.2'"},
      {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed answer: header line 'no colon'"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       "malformed answer: Content-Length '2'"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       "malformed answer: chunk size 'zz'"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
       "malformed answer: chunk not followed by CRLF"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
       "connection closed before the answer was complete"},
      {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(70000, 'a'),
       "malformed answer: a head over 65536 bytes"},
  };
  for (const Case& c : cases) {
    ScriptedServer server(AF_INET, {{c.answer}, {c.answer}});
    auto options = Options(server.Url());
    options.attempts = 2;
    auto answer = HttpRequest(options, "GET", kMetaData);
    ASSERT_FALSE(answer) << c.answer;
    EXPECT_EQ(answer.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(answer.error().message, server.Url() + kMetaData + ": " + c.reason);
    EXPECT_EQ(server.Requests().size(), 2u) << c.answer;
  }
}

TEST(HttpRequestTest, RefusesWhatWouldNotMakeAWellFormedRequest) {
  ServiceOptions options = Options("http://127.0.0.1:9");
  struct Case {
    std::string method, path;
    std::optional<std::string> token;
    std::string message;
  } cases[] = {
      {"GET", "openstack", {}, "http://127.0.0.1:9: not a request path 'openstack'"},
      {"GET", "/a b", {}, "http://127.0.0.1:9: not a request path '/a b'"},
      {"get", "/", {}, "http://127.0.0.1:9: not an HTTP method 'get'"},
      {"GET", "/", "a\r\nX-Injected: 1",
       "http://127.0.0.1:9: X-aws-ec2-metadata-token is not a header value"},
  };
  for (const Case& c : cases) {
    auto answer = HttpRequest(options, c.method, c.path, {}, c.token);
    ASSERT_FALSE(answer) << c.message;
    EXPECT_EQ(answer.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(answer.error().message, c.message);
  }
}

}  // namespace
}  // namespace metastack::guest
