// Fuzz target: a guest's raw bytes through the server's request parser (the server's limits,
// pipelining, arbitrary read boundaries), then the metadata API's routing of each request's
// target (SplitTarget, NormalizePath, ResolvePath) and core::Render of the route on a fixed
// sample instance (core's example document).
//
// Input: byte 0 is how many bytes arrive per read (0 = 256); the rest is the connection's bytes.
// Invariants: no body over the limit parses; NormalizePath is idempotent and starts with "/";
// ResolvePath gives the same route for a path and its normal form; Render never throws, answers
// kNotFound for an unknown route, and every JSON document it answers parses.

#include <cstdint>
#include <string>

#include "core/instance.h"
#include "core/metadata.h"
#include "core/testdata.h"
#include "fuzz/check.h"
#include "fuzz/request_parse.h"
#include "http/url.h"

namespace metastack::fuzz {
namespace {

const core::Instance& Sample() {
  static const core::Instance instance = *core::ParseInstanceJson(core::testing::ExampleDocument());
  return instance;
}

void ZeroRandom(std::span<uint8_t> out) { std::fill(out.begin(), out.end(), uint8_t{0}); }

bool SameRoute(const core::Route& a, const core::Route& b) {
  return a.kind == b.kind && a.version == b.version && a.file == b.file && a.tokens == b.tokens;
}

void Route(const bhttp::request<bhttp::string_body>& message) {
  std::string_view raw(message.target().data(), message.target().size());
  http::PathAndQuery target = http::SplitTarget(raw);
  std::string normal = core::NormalizePath(target.path);
  FUZZ_CHECK(normal.starts_with("/"), normal);
  FUZZ_CHECK(core::NormalizePath(normal) == normal, target.path);
  core::Route route = core::ResolvePath(target.path);
  FUZZ_CHECK(SameRoute(route, core::ResolvePath(normal)), target.path);
  core::RenderContext ctx{core::Delivery::kService, "10.0.0.5", ZeroRandom};
  Result<core::Document> doc = std::unexpected(MakeError(ErrorCode::kInternal, "not rendered"));
  try {
    doc = core::Render(Sample(), route, core::Settings{}, ctx);
  } catch (const std::exception& e) {
    Fail(__FILE__, __LINE__, "core::Render threw", e.what());
  }
  if (route.kind == core::RouteKind::kNotFound)
    FUZZ_CHECK(!doc && doc.error().code == ErrorCode::kNotFound, target.path);
  if (!doc) {
    FUZZ_CHECK(doc.error().code == ErrorCode::kNotFound, doc.error().ToString());
    return;
  }
  if (doc->content_type == core::kContentTypeJson)
    FUZZ_CHECK(!core::Json::parse(doc->body, nullptr, false).is_discarded(), target.path);
}

}  // namespace
}  // namespace metastack::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metastack;
  if (size == 0) return 0;
  size_t piece = data[0] == 0 ? 256 : data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::ParseRequests(input, piece, http::ServerLimits{},
                      [](bhttp::request<bhttp::string_body>&& m) { fuzz::Route(m); });
  return 0;
}
