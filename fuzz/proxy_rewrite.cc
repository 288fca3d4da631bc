// Fuzz target: the ns-proxy's rewriting of a guest's request for the agent (its edits,
// proxy::AgentEdits, as http::WriteForwarded writes them to the agent's socket and as
// http::ForwardedMessage builds them for an in-process agent), on requests parsed from raw
// bytes as the server parses them.
//
// Input: byte 0 picks the listener (bit 0: router or network) and the read size; the rest is
// the guest's connection bytes.
// Invariants, for the rewritten request and again for what the agent parses after the upstream
// pool serialises it: it never carries a header a guest sent in the hop-only set
// (X-Instance-ID, X-Tenant-ID, X-Neutron-*, X-Forwarded-For, X-Metadata-Provider*) nor a
// hop-by-hop one; X-Forwarded-For is exactly the peer's address and the listener's id header
// exactly its id, once each; the other id header is absent; method, target and body are the
// guest's; every other guest header is forwarded as sent.

#include <cstdint>
#include <string>

#include "fuzz/check.h"
#include "fuzz/request_parse.h"
#include "http/forward.h"
#include "http/headers.h"
#include "proxy/proxy.h"

namespace metastack::fuzz {
namespace {

namespace header = http::header;
using Message = bhttp::request<bhttp::string_body>;

constexpr std::string_view kPeer = "10.0.0.5";
constexpr std::string_view kHopByHop[] = {"Connection",          "Keep-Alive", "Proxy-Connection",
                                          "Proxy-Authorization", "TE",         "Trailer",
                                          "Transfer-Encoding",   "Upgrade",    "Expect"};

bool Is(beast::string_view a, std::string_view b) {
  return beast::iequals(a, beast::string_view(b.data(), b.size()));
}

bool IsHopOnly(beast::string_view name) {
  for (auto h : header::kHopOnly)
    if (Is(name, h)) return true;
  std::string_view provider = header::kMetadataProvider;
  return name.size() >= provider.size() && Is(name.substr(0, provider.size()), provider);
}

bool IsHopByHop(beast::string_view name) {
  for (auto h : kHopByHop)
    if (Is(name, h)) return true;
  return false;
}

// The identity headers of `m`, as the agent reads them: the stamped ones once, with their value.
void CheckIdentity(const Message& m, const proxy::ListenerSpec& spec, std::string_view where) {
  bool router = spec.kind == proxy::ListenerSpec::Kind::kRouter;
  std::string_view mine = router ? header::kRouterId : header::kNetworkId;
  std::string_view other = router ? header::kNetworkId : header::kRouterId;
  size_t forwarded = 0, id = 0;
  for (const auto& f : m) {
    auto name = f.name_string();
    std::string value(f.value());
    if (Is(name, header::kForwardedFor)) {
      ++forwarded;
      FUZZ_CHECK(value == kPeer, std::string(where) + ": X-Forwarded-For " + value);
    } else if (Is(name, mine)) {
      ++id;
      FUZZ_CHECK(value == spec.id, std::string(where) + ": id header " + value);
    } else {
      FUZZ_CHECK(!IsHopOnly(name), std::string(where) + ": guest header " + std::string(name));
      FUZZ_CHECK(!Is(name, other), std::string(where) + ": other id header");
    }
    FUZZ_CHECK(name.find('_') == beast::string_view::npos,
               std::string(where) + ": a name WSGI reads as another " + std::string(name));
    FUZZ_CHECK(!IsHopByHop(name) || (where == "agent" && Is(name, "Connection")),
               std::string(where) + ": hop-by-hop " + std::string(name));
  }
  FUZZ_CHECK(forwarded == 1, std::string(where) + ": X-Forwarded-For count");
  FUZZ_CHECK(id == 1, std::string(where) + ": id header count");
}

void Check(Message&& guest, const proxy::ListenerSpec& spec) {
  http::Request req;
  req.message = std::move(guest);
  req.peer = http::Peer{std::string(kPeer), 40000};
  auto rewritten = proxy::RewriteForAgent(req, spec);
  FUZZ_CHECK(rewritten.has_value(), "a valid listener's stamps refused");
  http::UpstreamRequest& out = *rewritten;
  CheckIdentity(out, spec, "rewritten");
  FUZZ_CHECK(out.method() == req.message.method(), "method changed");
  FUZZ_CHECK(out.target() == req.message.target(), "target changed");
  FUZZ_CHECK(out.body() == req.message.body(), "body changed");
  for (const auto& f : req.message) {
    auto name = f.name_string();
    if (IsHopOnly(name) || IsHopByHop(name) || Is(name, "Host") || Is(name, "Content-Length") ||
        name.find('_') != beast::string_view::npos)  // dropped: a WSGI server reads '_' as '-'
      continue;
    FUZZ_CHECK(out.count(name) == req.message.count(name), "dropped " + std::string(name));
  }

  // What the agent's server reads of the bytes the upstream pool writes (upstream.cc's Forward).
  std::string wire;
  std::array<http::HeadField, 2> stamps;
  FUZZ_CHECK(http::WriteForwarded(req, proxy::AgentEdits(req, spec, stamps), "agent", wire),
             "a valid listener's stamps refused on the wire");
  http::ServerLimits agent_limits;
  agent_limits.header_bytes = SIZE_MAX >> 33;  // the agent's limits are not under test here
  agent_limits.body_bytes = SIZE_MAX;
  int parsed = 0;
  auto ec = ParseRequests(wire, wire.size(), agent_limits, [&](Message&& m) {
    ++parsed;
    CheckIdentity(m, spec, "agent");
    FUZZ_CHECK(m.body() == out.body(), "body changed on the wire");
    FUZZ_CHECK(m.target() == out.target(), "target changed on the wire");
    FUZZ_CHECK(m.method_string() == out.method_string(), "method changed on the wire");
    // The wire carries exactly the message's fields, in its order, then Host (and a length).
    auto it = m.begin();
    for (const auto& f : out) {
      FUZZ_CHECK(it != m.end() && it->name_string() == f.name_string() && it->value() == f.value(),
                 "the wire's fields differ from the message's:\n" + wire);
      ++it;
    }
    for (; it != m.end(); ++it)
      FUZZ_CHECK(Is(it->name_string(), "Host") || Is(it->name_string(), "Content-Length"),
                 "the wire adds " + std::string(it->name_string()));
  });
  FUZZ_CHECK(!ec && parsed == 1, "the agent reads " + std::to_string(parsed) + " requests (" +
                                     ec.message() + "):\n" + wire);
}

}  // namespace
}  // namespace metastack::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace metastack;
  if (size == 0) return 0;
  proxy::ListenerSpec spec;
  spec.name = "fuzz";
  spec.kind =
      data[0] & 1 ? proxy::ListenerSpec::Kind::kNetwork : proxy::ListenerSpec::Kind::kRouter;
  spec.id = "4d8a4a0e-5b1c-4f0e-9c61-3f4f2f6f4a11";
  size_t piece = data[0] >> 1 ? data[0] >> 1 : 128;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::ParseRequests(
      input, piece, http::ServerLimits{},
      [&](bhttp::request<bhttp::string_body>&& m) { fuzz::Check(std::move(m), spec); });
  return 0;
}
