#include "proxy/proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <unordered_map>

#include "base/log.h"
#include "base/strings.h"
#include "http/access_log.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/headers.h"
#include "http/session.h"
#include "http/url.h"

namespace metastack::proxy {
namespace {

using Json = nlohmann::json;
namespace header = http::header;

http::Response JsonReply(unsigned status, const Json& body) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump();
  return r;
}

}  // namespace

NsProxy::NsProxy(http::Server& server, std::shared_ptr<http::Upstream> agent, Binder binder,
                 http::Metrics& metrics, bool access_log)
    : server_(server),
      agent_(std::move(agent)),
      binder_(std::move(binder)),
      metrics_(metrics),
      requests_(metrics, "metastack_proxy_requests_total"),
      access_log_(access_log) {
  metrics_.Describe("metastack_proxy_requests_total", "counter", "Guest requests, by status");
}

Result<uint16_t> NsProxy::Add(const ListenerSpec& spec, Origin origin) {
  {
    std::lock_guard lock(mu_);
    if (open_.count(spec.name))
      return std::unexpected(MakeError(ErrorCode::kConflict, "listener " + spec.name + " exists"));
  }
  METASTACK_ASSIGN_OR_RETURN(int fd, binder_(spec));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  uint16_t port = spec.port;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  auto shared = std::make_shared<const ListenerSpec>(spec);
  std::lock_guard lock(mu_);
  if (open_.count(spec.name)) {
    ::close(fd);
    return std::unexpected(MakeError(ErrorCode::kConflict, "listener " + spec.name + " exists"));
  }
  auto id =
      server_.AdoptTcp(fd, [this, shared](http::Request& req) { return Handle(req, *shared); });
  if (!id) {
    ::close(fd);
    return std::unexpected(id.error());
  }
  open_[spec.name] = Open{spec, *id, port, origin};
  LogInfo(
      "proxy",
      "listening for " +
          std::string(spec.kind == ListenerSpec::Kind::kRouter ? "router " : "network ") + spec.id +
          " in " + (spec.netns.empty() ? "this namespace" : "netns " + spec.netns) + " on " +
          (spec.address.find(':') == std::string::npos ? spec.address : "[" + spec.address + "]") +
          ":" + std::to_string(port));
  return port;
}

std::string_view NsProxy::OriginName(Origin origin) {
  switch (origin) {
    case Origin::kConfig:
      return "config";
    case Origin::kControl:
      return "control";
    case Origin::kManaged:
      return "managed";
  }
  return "config";
}

Status NsProxy::Remove(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = open_.find(name);
  if (it == open_.end())
    return std::unexpected(MakeError(ErrorCode::kNotFound, "no listener " + name));
  server_.CloseListener(it->second.id);
  open_.erase(it);
  LogInfo("proxy", "closed listener " + name);
  return Ok();
}

std::optional<NsProxy::ListenerInfo> NsProxy::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = open_.find(name);
  if (it == open_.end()) return std::nullopt;
  return ListenerInfo{it->second.spec, it->second.port, it->second.origin};
}

Status NsProxy::RemoveFrom(const std::string& name, Origin origin) {
  std::lock_guard lock(mu_);
  auto it = open_.find(name);
  if (it == open_.end())
    return std::unexpected(MakeError(ErrorCode::kNotFound, "no listener " + name));
  if (it->second.origin != origin)
    return std::unexpected(
        MakeError(ErrorCode::kConflict, "listener " + name + " is " +
                                            std::string(OriginName(it->second.origin)) + ", not " +
                                            std::string(OriginName(origin))));
  server_.CloseListener(it->second.id);
  open_.erase(it);
  LogInfo("proxy", "closed listener " + name);
  return Ok();
}

Status NsProxy::Reconcile(const std::vector<ListenerSpec>& desired) {
  // By name, so that a reload of n listeners is O(n log n), not a search of the file per listener.
  std::unordered_map<std::string_view, const ListenerSpec*> by_name;
  by_name.reserve(desired.size());
  for (const auto& d : desired) by_name.emplace(d.name, &d);
  std::vector<std::string> stale;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, open] : open_) {
      if (open.origin != Origin::kConfig) continue;  // added at run time: not the file's to close
      auto it = by_name.find(name);
      if (it == by_name.end() || *it->second != open.spec) stale.push_back(name);
    }
  }
  for (const auto& name : stale) (void)Remove(name);
  Status result = Ok();
  for (const auto& d : desired) {
    {
      std::lock_guard lock(mu_);
      auto it = open_.find(d.name);
      if (it != open_.end()) {
        if (it->second.origin == Origin::kConfig) continue;
        if (it->second.origin == Origin::kControl &&
            it->second.spec == d) {  // the configuration now names it: it owns it
          it->second.origin = Origin::kConfig;
          continue;
        }
        auto e = MakeError(ErrorCode::kConflict,
                           "listener " + d.name +
                               (it->second.origin == Origin::kManaged
                                    ? " is the namespace manager's (it follows the store); "
                                      "rename the configured one"
                                    : " was added at run time with other settings; remove it "
                                      "to apply the file's"));
        LogError("proxy", e.ToString());
        if (result) result = std::unexpected(e);
        continue;
      }
    }
    if (auto added = Add(d, Origin::kConfig); !added) {
      LogError("proxy", "listener " + d.name + ": " + added.error().ToString());
      if (result) result = std::unexpected(added.error());
    }
  }
  return result;
}

void NsProxy::ReconcileInBackground(std::vector<ListenerSpec> desired) {
  asio::post(namespace_work_, [this, desired = std::move(desired)] { (void)Reconcile(desired); });
}

size_t NsProxy::listener_count() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

Json NsProxy::List() const {
  std::lock_guard lock(mu_);
  Json list = Json::array();
  for (const auto& [_, open] : open_) {
    Json l = ListenerToJson(open.spec, open.port);
    l["origin"] = OriginName(open.origin);
    list.push_back(std::move(l));
  }
  return Json{{"listeners", list}};
}

asio::awaitable<http::Response> NsProxy::Handle(http::Request& req, const ListenerSpec& spec) {
  auto started = std::chrono::steady_clock::now();
  http::Response r;
  if (http::IsForwardedTokenRequest(req)) {
    r = http::ErrorResponse(
        MakeError(ErrorCode::kPermissionDenied, std::string(http::kForwardedTokenRequest)));
  } else {
    std::array<http::HeadField, 2> stamps;
    auto res = co_await agent_->Forward(
        req, AgentEdits(req, spec, stamps),
        http::HoldFor(std::string_view(req.message.target().data(), req.message.target().size())));
    if (!res) {
      agent_log_.Failure(res.error().message);
      r = http::ErrorResponse(res.error());
    } else {
      agent_log_.Success();
      r = http::PassBack(std::move(*res));
      // A session token leaves with hop limit 1: it reaches the guest on its own link and no
      // further (a container's NAT or a forwarding proxy on the guest would need a second hop).
      for (const auto& [name, _] : r.headers)
        if (EqualsIgnoreAsciiCase(name, http::header::kTokenTtlSeconds)) r.hop_limit = 1;
    }
  }
  requests_.For(r.status).Add(1);
  if (access_log_) {
    auto method = req.message.method_string();
    auto target = req.message.target();
    std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - started;
    LogInfo("access",
            http::FormatAccessLog({.listener = spec.name,
                                   .client = req.peer.address,
                                   .method = std::string_view(method.data(), method.size()),
                                   .path = std::string_view(target.data(), target.size()),
                                   .status = r.status,
                                   .duration_ms = ms.count()}));
  }
  co_return r;
}

http::Handler NsProxy::ControlHandler() {
  return [this](http::Request& req) -> asio::awaitable<http::Response> {
    std::string path = http::SplitTarget(std::string_view(req.message.target().data(),
                                                          req.message.target().size()))
                           .path;
    auto method = req.message.method();
    auto error = [](const Error& e) {
      return http::ErrorResponse(e, {.body = http::ErrorBody::kJson});
    };
    if (path == "/listeners" && method == bhttp::verb::get) co_return JsonReply(200, List());
    if (path == "/listeners" && method == bhttp::verb::post) {
      Json j = Json::parse(req.message.body(), nullptr, false);
      if (j.is_discarded())
        co_return error(MakeError(ErrorCode::kInvalidArgument, "body is not JSON"));
      auto spec = ListenerFromJson(j);
      if (!spec) co_return error(spec.error());
      auto port = co_await http::RunBlocking(
          namespace_work_, [this, &spec] { return Add(*spec, Origin::kControl); });
      if (!port) co_return error(port.error());
      co_return JsonReply(201, ListenerToJson(*spec, *port));
    }
    if (path.starts_with("/listeners/") && method == bhttp::verb::delete_) {
      std::string name = http::PercentDecode(path.substr(11));
      if (auto found = Find(name); found && found->origin == Origin::kManaged)
        co_return error(MakeError(ErrorCode::kConflict,
                                  "listener " + name +
                                      " is the namespace manager's: it closes when its router or "
                                      "network leaves this host or its namespace goes"));
      auto st = Remove(name);
      if (!st) co_return error(st.error());
      http::Response r;
      r.status = 204;
      co_return r;
    }
    if (path == "/metrics" && method == bhttp::verb::get) {
      http::Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = metrics_.Render();
      co_return r;
    }
    co_return error(MakeError(ErrorCode::kNotFound, "no such resource"));
  };
}

}  // namespace metastack::proxy
