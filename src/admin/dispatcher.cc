#include "admin/dispatcher.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "http/error_response.h"
#include "http/url.h"

namespace metastack::admin {
namespace {

using Json = nlohmann::ordered_json;

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

Result<Json> ParseBody(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return InvalidField("", "request body is not valid JSON");
  return j;
}

Json InstanceJson(const store::InstanceRecord& r) {
  return Json{{"instance", core::InstanceToJson(r.instance)}, {"revision", r.revision}};
}

// A router's or network's host: null when unassigned.
Json HostJson(const std::string& host) { return host.empty() ? Json(nullptr) : Json(host); }

Json NetworkJson(const store::Network& n) {
  return Json{
      {"id", n.id},
      {"name", n.name},
      {"project_id", n.project_id},
      {"router_id", n.router_id ? Json(*n.router_id) : Json(nullptr)},
      {"host", HostJson(n.host)},
      {"http_tokens", n.http_tokens ? Json(core::HttpTokensName(*n.http_tokens)) : Json(nullptr)},
      {"revision", n.revision}};
}

Json RouterJson(const store::Router& r) {
  return Json{{"id", r.id},
              {"name", r.name},
              {"project_id", r.project_id},
              {"host", HostJson(r.host)},
              {"revision", r.revision}};
}

Json PortJson(const store::PortBinding& b) {
  return Json{{"port_id", b.port_id},         {"mac", b.mac},
              {"network_id", b.network_id},   {"ip_address", b.ip_address},
              {"instance_id", b.instance_id}, {"project_id", b.project_id}};
}

Result<store::ListOptions> ListOptionsFrom(const std::string& query) {
  store::ListOptions o;
  std::string limit = QueryParam(query, "limit");
  if (!limit.empty()) {
    size_t v = 0;
    auto [p, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), v);
    if (ec != std::errc() || p != limit.data() + limit.size() || v == 0 || v > 1000)
      return InvalidField("limit", "expected a number from 1 to 1000");
    o.limit = v;
  }
  o.after = QueryParam(query, "after");
  o.project_id = QueryParam(query, "project_id");
  return o;
}

Result<std::optional<int64_t>> RevisionFrom(const std::string& query) {
  std::string r = QueryParam(query, "revision");
  if (r.empty()) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(r.data(), r.data() + r.size(), v);
  if (ec != std::errc() || p != r.data() + r.size())
    return InvalidField("revision", "expected a number");
  return v;
}

// RFC 7386: objects merge recursively, null deletes, anything else replaces.
void MergePatch(Json& target, const Json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null())
      target.erase(key);
    else
      MergePatch(target[key], value);
  }
}

// A PATCH without ?revision= is a merge, not a bet: it is tried again while other writers keep
// winning the race for the instance, after a random while (up to 25 ms) so that a crowd of
// writers on one instance, through one node or many, drains instead of colliding again.
constexpr int kPatchAttempts = 100;

std::chrono::microseconds BackOff(int attempt) {
  thread_local std::minstd_rand random(std::random_device{}());
  int ceiling_us = std::min(250 << std::min(attempt, 7), 25'000);
  return std::chrono::microseconds(std::uniform_int_distribution<int>(0, ceiling_us)(random));
}

// Whether a failed request is a PATCH to try again: it lost the race (kAborted) and the caller
// named no revision (with one, the lost race is the caller's to handle).
bool Retryable(const AdminRequest& req, const Error& error) {
  return error.code == ErrorCode::kAborted && req.method == "PATCH" &&
         QueryParam(req.query, "revision").empty();
}

template <typename T, typename F>
Result<Json> Page(const Result<store::Page<T>>& page, const char* key, F to_json) {
  if (!page) return std::unexpected(page.error());
  Json items = Json::array();
  for (const auto& item : page->items) items.push_back(to_json(item));
  return Json{{key, std::move(items)},
              {"next", page->next.empty() ? Json(nullptr) : Json(page->next)}};
}

// A session policy in an object's "http_tokens": "optional", "required", or null / absent for
// none.
Result<std::optional<core::HttpTokens>> HttpTokensFrom(const Json& j) {
  if (!j.contains("http_tokens") || j["http_tokens"].is_null()) return std::nullopt;
  std::optional<core::HttpTokens> policy;
  if (j["http_tokens"].is_string())
    policy = core::ParseHttpTokens(j["http_tokens"].get<std::string>());
  if (!policy)
    return InvalidField("http_tokens", "expected \"optional\", \"required\" or null to unset");
  return policy;
}

Result<store::Network> NetworkFrom(const Json& j) {
  if (!j.is_object()) return InvalidField("", "expected a JSON object");
  for (const auto& [k, _] : j.items())
    if (k != "id" && k != "name" && k != "project_id" && k != "router_id" && k != "host" &&
        k != "http_tokens")
      return InvalidField(k, "unknown field");
  store::Network n;
  auto str = [&](const char* key, std::string& out) -> Status {
    if (!j.contains(key) || j[key].is_null()) return Ok();
    if (!j[key].is_string()) return InvalidField(key, "expected a string");
    out = j[key].get<std::string>();
    return Ok();
  };
  METASTACK_RETURN_IF_ERROR(str("id", n.id));
  METASTACK_RETURN_IF_ERROR(str("name", n.name));
  METASTACK_RETURN_IF_ERROR(str("project_id", n.project_id));
  std::string router;
  METASTACK_RETURN_IF_ERROR(str("router_id", router));
  if (!router.empty()) n.router_id = router;
  METASTACK_RETURN_IF_ERROR(str("host", n.host));
  METASTACK_ASSIGN_OR_RETURN(n.http_tokens, HttpTokensFrom(j));
  return n;
}

Result<store::Router> RouterFrom(const Json& j) {
  if (!j.is_object()) return InvalidField("", "expected a JSON object");
  store::Router r;
  for (const auto& [k, v] : j.items()) {
    if (k != "id" && k != "name" && k != "project_id" && k != "host")
      return InvalidField(k, "unknown field");
    if (k == "host" && v.is_null()) continue;
    if (!v.is_string()) return InvalidField(k, "expected a string");
  }
  r.id = j.value("id", "");
  r.name = j.value("name", "");
  r.project_id = j.value("project_id", "");
  if (j.contains("host") && j["host"].is_string()) r.host = j["host"].get<std::string>();
  return r;
}

// The body of PUT .../host: {"host": "NAME"}, or null (or "") to unassign.
Result<std::string> HostFrom(const std::string& body) {
  METASTACK_ASSIGN_OR_RETURN(Json j, ParseBody(body));
  if (!j.is_object() || !j.contains("host") || !(j["host"].is_string() || j["host"].is_null()))
    return InvalidField("host", "expected a string, or null to unassign");
  return j["host"].is_null() ? std::string() : j["host"].get<std::string>();
}

Result<AdminReply> Instances(store::Store& s, const AdminRequest& req,
                             const std::vector<std::string>& p) {
  const std::string& m = req.method;
  if (p.size() == 2) {
    if (m == "GET") {
      METASTACK_ASSIGN_OR_RETURN(auto opts, ListOptionsFrom(req.query));
      METASTACK_ASSIGN_OR_RETURN(Json j, Page(s.ListInstances(opts), "instances", InstanceJson));
      return AdminReply{200, std::move(j)};
    }
    if (m == "POST") {
      METASTACK_ASSIGN_OR_RETURN(Json body, ParseBody(req.body));
      METASTACK_ASSIGN_OR_RETURN(auto inst, core::ParseInstanceJson(body));
      METASTACK_ASSIGN_OR_RETURN(auto rec, s.CreateInstance(inst));
      return AdminReply{201, InstanceJson(rec)};
    }
  }
  if (p.size() == 3) {
    const std::string& uuid = p[2];
    if (m == "GET") {
      METASTACK_ASSIGN_OR_RETURN(auto rec, s.GetInstance(uuid));
      return AdminReply{200, InstanceJson(rec)};
    }
    if (m == "DELETE") {
      METASTACK_RETURN_IF_ERROR(s.DeleteInstance(uuid));
      return AdminReply{204, nullptr};
    }
    if (m == "PUT" || m == "PATCH") {
      METASTACK_ASSIGN_OR_RETURN(Json body, ParseBody(req.body));
      METASTACK_ASSIGN_OR_RETURN(auto revision, RevisionFrom(req.query));
      if (m == "PATCH") {
        // Read, patch, replace at the revision read: kAborted if someone else wrote meanwhile
        // (DispatchAttempt then asks for another try).
        METASTACK_ASSIGN_OR_RETURN(auto cur, s.GetInstance(uuid));
        if (revision && *revision != cur.revision)
          return std::unexpected(store::StaleRevision(uuid, cur.revision, *revision));
        Json doc = core::InstanceToJson(cur.instance);
        MergePatch(doc, body);
        if (doc.value("uuid", "") != uuid) return InvalidField("uuid", "the uuid cannot change");
        METASTACK_ASSIGN_OR_RETURN(auto inst, core::ParseInstanceJson(doc));
        METASTACK_ASSIGN_OR_RETURN(auto rec, s.ReplaceInstance(inst, cur.revision));
        return AdminReply{200, InstanceJson(rec)};
      }
      METASTACK_ASSIGN_OR_RETURN(auto inst, core::ParseInstanceJson(body));
      if (inst.uuid != uuid) return InvalidField("uuid", "does not match the URL");
      METASTACK_ASSIGN_OR_RETURN(auto rec, s.ReplaceInstance(inst, revision));
      return AdminReply{200, InstanceJson(rec)};
    }
  }
  if (p.size() == 4 && p[3] == "password" && m == "DELETE") {
    METASTACK_ASSIGN_OR_RETURN(auto rec, s.ResetPassword(p[2]));
    return AdminReply{200, InstanceJson(rec)};
  }
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such resource"));
}

Result<AdminReply> Networks(store::Store& s, const AdminRequest& req,
                            const std::vector<std::string>& p) {
  const std::string& m = req.method;
  if (p.size() == 2 && m == "GET") {
    METASTACK_ASSIGN_OR_RETURN(auto opts, ListOptionsFrom(req.query));
    METASTACK_ASSIGN_OR_RETURN(Json j, Page(s.ListNetworks(opts), "networks", NetworkJson));
    return AdminReply{200, std::move(j)};
  }
  if (p.size() == 2 && m == "POST") {
    METASTACK_ASSIGN_OR_RETURN(Json body, ParseBody(req.body));
    METASTACK_ASSIGN_OR_RETURN(auto n, NetworkFrom(body));
    METASTACK_ASSIGN_OR_RETURN(auto created, s.CreateNetwork(n));
    return AdminReply{201, NetworkJson(created)};
  }
  if (p.size() == 3 && m == "GET") {
    METASTACK_ASSIGN_OR_RETURN(auto n, s.GetNetwork(p[2]));
    return AdminReply{200, NetworkJson(n)};
  }
  if (p.size() == 3 && m == "DELETE") {
    METASTACK_RETURN_IF_ERROR(s.DeleteNetwork(p[2]));
    return AdminReply{204, nullptr};
  }
  if (p.size() == 4 && p[3] == "router" && m == "PUT") {
    METASTACK_ASSIGN_OR_RETURN(Json body, ParseBody(req.body));
    if (!body.is_object() || !body.contains("router_id") ||
        !(body["router_id"].is_string() || body["router_id"].is_null()))
      return InvalidField("router_id", "expected a string, or null to detach");
    std::string router = body["router_id"].is_null() ? "" : body["router_id"].get<std::string>();
    METASTACK_ASSIGN_OR_RETURN(auto n, s.SetNetworkRouter(p[2], router));
    return AdminReply{200, NetworkJson(n)};
  }
  if (p.size() == 4 && p[3] == "host" && m == "PUT") {
    METASTACK_ASSIGN_OR_RETURN(std::string host, HostFrom(req.body));
    METASTACK_ASSIGN_OR_RETURN(auto n, s.SetNetworkHost(p[2], host));
    return AdminReply{200, NetworkJson(n)};
  }
  if (p.size() == 4 && p[3] == "http_tokens" && m == "PUT") {
    METASTACK_ASSIGN_OR_RETURN(Json body, ParseBody(req.body));
    if (!body.is_object() || !body.contains("http_tokens"))
      return InvalidField("http_tokens", "expected \"optional\", \"required\" or null to unset");
    METASTACK_ASSIGN_OR_RETURN(auto policy, HttpTokensFrom(body));
    METASTACK_ASSIGN_OR_RETURN(auto n, s.SetNetworkHttpTokens(p[2], policy));
    return AdminReply{200, NetworkJson(n)};
  }
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such resource"));
}

Result<AdminReply> Routers(store::Store& s, const AdminRequest& req,
                           const std::vector<std::string>& p) {
  const std::string& m = req.method;
  if (p.size() == 2 && m == "GET") {
    METASTACK_ASSIGN_OR_RETURN(auto opts, ListOptionsFrom(req.query));
    METASTACK_ASSIGN_OR_RETURN(Json j, Page(s.ListRouters(opts), "routers", RouterJson));
    return AdminReply{200, std::move(j)};
  }
  if (p.size() == 2 && m == "POST") {
    METASTACK_ASSIGN_OR_RETURN(Json body, ParseBody(req.body));
    METASTACK_ASSIGN_OR_RETURN(auto r, RouterFrom(body));
    METASTACK_ASSIGN_OR_RETURN(auto created, s.CreateRouter(r));
    return AdminReply{201, RouterJson(created)};
  }
  if (p.size() == 3 && m == "GET") {
    METASTACK_ASSIGN_OR_RETURN(auto r, s.GetRouter(p[2]));
    return AdminReply{200, RouterJson(r)};
  }
  if (p.size() == 3 && m == "DELETE") {
    METASTACK_RETURN_IF_ERROR(s.DeleteRouter(p[2]));
    return AdminReply{204, nullptr};
  }
  if (p.size() == 4 && p[3] == "host" && m == "PUT") {
    METASTACK_ASSIGN_OR_RETURN(std::string host, HostFrom(req.body));
    METASTACK_ASSIGN_OR_RETURN(auto r, s.SetRouterHost(p[2], host));
    return AdminReply{200, RouterJson(r)};
  }
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such resource"));
}

Result<AdminReply> Ports(store::Store& s, const AdminRequest& req,
                         const std::vector<std::string>& p) {
  if (req.method != "GET")
    return std::unexpected(MakeError(ErrorCode::kNotFound, "no such resource"));
  if (p.size() == 2) {
    METASTACK_ASSIGN_OR_RETURN(auto opts, ListOptionsFrom(req.query));
    METASTACK_ASSIGN_OR_RETURN(
        Json j, Page(s.ListPorts(QueryParam(req.query, "network_id"), opts), "ports", PortJson));
    return AdminReply{200, std::move(j)};
  }
  if (p.size() == 3 && p[2] == "lookup") {
    std::string ip = QueryParam(req.query, "ip");
    std::string network = QueryParam(req.query, "network_id");
    std::string router = QueryParam(req.query, "router_id");
    if (ip.empty()) return InvalidField("ip", "is required");
    if (network.empty() == router.empty())
      return InvalidField("", "give exactly one of network_id and router_id");
    METASTACK_ASSIGN_OR_RETURN(auto b, network.empty() ? s.FindPortOnRouter(router, ip)
                                                       : s.FindPortOnNetwork(network, ip));
    return AdminReply{200, PortJson(b)};
  }
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such resource"));
}

}  // namespace

std::string QueryParam(const std::string& query, const std::string& name) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    std::string pair = query.substr(start, end - start);
    size_t eq = pair.find('=');
    std::string key = http::PercentDecode(pair.substr(0, eq));
    if (key == name) {
      std::string value = eq == std::string::npos ? "" : pair.substr(eq + 1);
      for (auto& c : value)
        if (c == '+') c = ' ';
      return http::PercentDecode(value);
    }
    start = end + 1;
  }
  return "";
}

AdminReply ErrorReply(const Error& error) {
  return AdminReply{http::ErrorStatus(error), http::ErrorJson(error)};
}

AdminAttempt DispatchAttempt(store::Store& store, const AdminRequest& req, int attempt) {
  std::vector<std::string> p = Split(req.path);
  Result<AdminReply> reply = std::unexpected(MakeError(ErrorCode::kNotFound, "no such resource"));
  if (p.size() >= 2 && p[0] == "v1") {
    if (p[1] == "instances")
      reply = Instances(store, req, p);
    else if (p[1] == "networks")
      reply = Networks(store, req, p);
    else if (p[1] == "routers")
      reply = Routers(store, req, p);
    else if (p[1] == "ports")
      reply = Ports(store, req, p);
  }
  if (reply) return {std::move(*reply), std::nullopt};
  AdminAttempt failed{ErrorReply(reply.error()), std::nullopt};
  if (Retryable(req, reply.error()) && attempt + 1 < kPatchAttempts)
    failed.retry_in = BackOff(attempt);
  return failed;
}

AdminReply Dispatch(store::Store& store, const AdminRequest& req) {
  for (int attempt = 0;; ++attempt) {
    AdminAttempt a = DispatchAttempt(store, req, attempt);
    if (!a.retry_in) return std::move(a.reply);
    std::this_thread::sleep_for(*a.retry_in);
  }
}

}  // namespace metastack::admin
