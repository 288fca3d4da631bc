// A listener's description (JSON in the control API and the listeners file) and what it does to
// a guest's request. Apart from the serving part of proxy.cc, so that the rewrite can be fuzzed
// without the server.
#include <unordered_set>

#include "base/strings.h"
#include "http/forward.h"
#include "http/headers.h"
#include "proxy/proxy.h"

namespace metastack::proxy {
namespace {

using Json = nlohmann::json;
namespace header = http::header;

}  // namespace

Result<ListenerSpec> ListenerFromJson(const Json& j) {
  if (!j.is_object()) return InvalidField("", "a listener must be a JSON object");
  for (const auto& [k, _] : j.items())
    if (k != "name" && k != "netns" && k != "kind" && k != "id" && k != "address" && k != "port")
      return InvalidField(k, "unknown field");
  ListenerSpec s;
  auto str = [&](const char* key, std::string& out, bool required) -> Status {
    if (!j.contains(key)) return required ? Status(InvalidField(key, "is required")) : Ok();
    if (!j[key].is_string() || (required && j[key].get<std::string>().empty()))
      return InvalidField(key, "expected a non-empty string");
    out = j[key].get<std::string>();
    return Ok();
  };
  METASTACK_RETURN_IF_ERROR(str("name", s.name, true));
  METASTACK_RETURN_IF_ERROR(str("netns", s.netns, false));
  METASTACK_RETURN_IF_ERROR(str("id", s.id, true));
  std::string kind;
  METASTACK_RETURN_IF_ERROR(str("kind", kind, true));
  if (kind == "router") {
    s.kind = ListenerSpec::Kind::kRouter;
    s.address = "::";
    s.port = 9697;
  } else if (kind == "network") {
    s.kind = ListenerSpec::Kind::kNetwork;
    s.address = "169.254.169.254";
    s.port = 80;
  } else {
    return InvalidField("kind", "expected router or network");
  }
  METASTACK_RETURN_IF_ERROR(str("address", s.address, false));
  if (j.contains("port")) {
    if (!j["port"].is_number_unsigned() || j["port"].get<uint64_t>() > 65535)
      return InvalidField("port", "expected a port number");
    s.port = static_cast<uint16_t>(j["port"].get<uint64_t>());
  }
  return s;
}

Json ListenerToJson(const ListenerSpec& s, uint16_t bound_port) {
  return Json{{"name", s.name},
              {"netns", s.netns},
              {"kind", s.kind == ListenerSpec::Kind::kRouter ? "router" : "network"},
              {"id", s.id},
              {"address", s.address},
              {"port", bound_port}};
}

Result<std::vector<ListenerSpec>> ParseListenersFile(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("listeners") || !j["listeners"].is_array())
    return std::unexpected(
        MakeError(ErrorCode::kInvalidArgument, "expected {\"listeners\": [...]} in JSON"));
  std::vector<ListenerSpec> out;
  std::unordered_set<std::string> names;  // a file of n listeners is checked in O(n)
  for (size_t i = 0; i < j["listeners"].size(); ++i) {
    auto s = ListenerFromJson(j["listeners"][i]);
    if (!s) {
      Error e = s.error();
      e.field = "listeners[" + std::to_string(i) + "]" + (e.field.empty() ? "" : "." + e.field);
      return std::unexpected(e);
    }
    if (!names.insert(s->name).second)
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "duplicate name " + s->name,
                                       "listeners[" + std::to_string(i) + "].name"));
    out.push_back(std::move(*s));
  }
  return out;
}

bool PassedToAgent(std::string_view name) {
  // WSGI servers (Neutron's own agent among them) read X_Neutron_Router_ID as
  // X-Neutron-Router-ID: a name with '_' never passes, as nginx drops them by default.
  if (name.find('_') != std::string_view::npos) return false;
  for (auto h : header::kHopOnly)
    if (EqualsIgnoreAsciiCase(name, h)) return false;
  static constexpr std::string_view kProvider = header::kMetadataProvider;
  if (name.size() >= kProvider.size() &&
      EqualsIgnoreAsciiCase(name.substr(0, kProvider.size()), kProvider))
    return false;
  return !http::IsHopByHop(name) && !EqualsIgnoreAsciiCase(name, "Proxy-Authorization");
}

http::HeadEdits AgentEdits(const http::Request& req, const ListenerSpec& spec,
                           std::array<http::HeadField, 2>& stamps) {
  stamps = {http::HeadField{header::kForwardedFor, req.peer.address},
            http::HeadField{
                spec.kind == ListenerSpec::Kind::kRouter ? header::kRouterId : header::kNetworkId,
                spec.id}};
  return http::HeadEdits{&PassedToAgent, stamps};
}

Result<http::UpstreamRequest> RewriteForAgent(const http::Request& req, const ListenerSpec& spec) {
  std::array<http::HeadField, 2> stamps;
  return http::ForwardedMessage(req, AgentEdits(req, spec, stamps));
}

}  // namespace metastack::proxy
