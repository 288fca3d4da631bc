#include "http/forward.h"

#include <gtest/gtest.h>

namespace metastack::http {
namespace {

// A request as the server hands it to a handler: parsed by Beast from `raw`.
Request Parsed(std::string_view raw) {
  bhttp::request_parser<bhttp::string_body> parser;
  beast::error_code ec;
  parser.eager(true);
  parser.put(asio::buffer(raw.data(), raw.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  return Request{parser.release(), Peer{"10.0.0.5", 40000}, "169.254.169.254"};
}

bool KeepAll(std::string_view) { return true; }
bool KeepNone(std::string_view) { return false; }

TEST(WriteForwardedTest, KeepsFieldsInOrderDropsHopByHopAndStampsAfter) {
  Request in = Parsed(
      "GET /openstack/latest/meta_data.json?x=1 HTTP/1.1\r\nHost: 169.254.169.254\r\n"
      "User-Agent: cloud-init\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
      "Upgrade: h2c\r\nProxy-Connection: x\r\nTrailer: y\r\nExpect: z\r\nAccept: */*\r\n"
      "accept: text/plain\r\n\r\n");
  const std::array<HeadField, 2> stamps = {HeadField{"X-Forwarded-For", "10.0.0.5"},
                                           HeadField{"X-Neutron-Router-ID", "r1"}};
  std::string wire = "kept before: ";
  ASSERT_TRUE(WriteForwarded(in, HeadEdits{&KeepAll, stamps}, "localhost", wire));
  EXPECT_EQ(wire,
            "kept before: GET /openstack/latest/meta_data.json?x=1 HTTP/1.1\r\n"
            "User-Agent: cloud-init\r\nAccept: */*\r\naccept: text/plain\r\n"
            "X-Forwarded-For: 10.0.0.5\r\nX-Neutron-Router-ID: r1\r\nHost: localhost\r\n\r\n");
}

TEST(WriteForwardedTest, BodyGoesWithItsLengthDechunked) {
  Request in = Parsed(
      "POST /openstack/latest/password HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: text/plain\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  std::string wire;
  ASSERT_TRUE(WriteForwarded(in, HeadEdits{&KeepAll, {}}, "api:8775", wire));
  EXPECT_EQ(wire,
            "POST /openstack/latest/password HTTP/1.1\r\nContent-Type: text/plain\r\n"
            "Host: api:8775\r\nContent-Length: 5\r\n\r\nabcde");
}

TEST(WriteForwardedTest, ContentLengthAsBeastWouldSetIt) {
  // An empty PUT (the token request) carries Content-Length: 0, an empty GET none.
  Request put = Parsed("PUT /latest/api/token HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  std::string wire;
  ASSERT_TRUE(WriteForwarded(put, HeadEdits{&KeepNone, {}}, "h", wire));
  EXPECT_EQ(wire, "PUT /latest/api/token HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  Request get = Parsed("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  wire.clear();
  ASSERT_TRUE(WriteForwarded(get, HeadEdits{&KeepAll, {}}, "h", wire));
  EXPECT_EQ(wire, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(WriteForwardedTest, UnknownMethodGoesAsSent) {
  Request in = Parsed("FOO /x HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string wire;
  ASSERT_TRUE(WriteForwarded(in, HeadEdits{}, "h", wire));
  EXPECT_EQ(wire, "FOO /x HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(WriteForwardedTest, InvalidStampIsRefusedAndNothingWritten) {
  Request in = Parsed("GET / HTTP/1.1\r\n\r\n");
  const std::array<HeadField, 1> bad_value = {HeadField{"X-Tenant-ID", "t\r\nX-Instance-ID: i"}};
  std::string wire;
  auto refused = WriteForwarded(in, HeadEdits{&KeepAll, bad_value}, "h", wire);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInternal);
  EXPECT_EQ(refused.error().message,
            "cannot forward a request stamped with an invalid value of X-Tenant-ID");
  EXPECT_EQ(wire, "");
  const std::array<HeadField, 1> bad_name = {HeadField{"X Tenant", "t"}};
  auto message = ForwardedMessage(in, HeadEdits{&KeepAll, bad_name});
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().message,
            "cannot forward a request stamped with an invalid header name X Tenant");
}

TEST(ForwardedMessageTest, SameFieldsAsTheWire) {
  Request in = Parsed(
      "PUT /t HTTP/1.1\r\nHost: h\r\nA: 1\r\nConnection: close\r\nB: 2\r\nContent-Length: 2\r\n"
      "\r\nhi");
  const std::array<HeadField, 1> stamps = {HeadField{"X-Forwarded-For", "10.0.0.5"}};
  auto m = ForwardedMessage(in, HeadEdits{&KeepAll, stamps});
  ASSERT_TRUE(m);
  std::string fields;
  for (const auto& f : *m)
    fields += std::string(f.name_string()) + "=" + std::string(f.value()) + ";";
  EXPECT_EQ(fields, "A=1;B=2;X-Forwarded-For=10.0.0.5;");
  EXPECT_EQ(m->body(), "hi");
  EXPECT_EQ(m->method(), bhttp::verb::put);
  EXPECT_EQ(m->target(), "/t");
}

}  // namespace
}  // namespace metastack::http
