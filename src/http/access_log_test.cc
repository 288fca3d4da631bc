// FormatAccessLog's exact lines: plain values bare, anything else quoted and escaped.
#include "http/access_log.h"

#include <gtest/gtest.h>

namespace metastack::http {
namespace {

TEST(AccessLogTest, PlainValuesAreBare) {
  EXPECT_EQ(FormatAccessLog({.listener = "qrouter-1",
                             .client = "10.0.0.5",
                             .instance_id = "8e1f7c4a-0000-4000-8000-000000000001",
                             .method = "GET",
                             .path = "/openstack/latest/meta_data.json",
                             .status = 200,
                             .duration_ms = 0.4121}),
            "listener=qrouter-1 client=10.0.0.5 instance=8e1f7c4a-0000-4000-8000-000000000001 "
            "method=GET path=/openstack/latest/meta_data.json status=200 ms=0.412");
}

TEST(AccessLogTest, OtherValuesAreQuotedAndEscaped) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", R"("")"},
      {"/a b", R"("/a b")"},
      {"/a=b", R"("/a=b")"},
      {R"(/a"b)", R"("/a\"b")"},
      {R"(/a\b)", R"("/a\\b")"},
      {"/a\nstatus=500", R"("/a\nstatus=500")"},
      {"/\r\t", R"("/\r\t")"},
      {std::string_view("/\0\x7f", 3), R"("/\x00\x7f")"},
      {"/caf\xc3\xa9", R"("/caf\xc3\xa9")"},
  };
  for (const auto& [path, want] : cases) {
    std::string line = FormatAccessLog(
        {.listener = "api", .client = "::1", .method = "GET", .path = path, .status = 404});
    EXPECT_EQ(line, "listener=api client=::1 instance=\"\" method=GET path=" + std::string(want) +
                        " status=404 ms=0.000");
  }
}

}  // namespace
}  // namespace metastack::http
