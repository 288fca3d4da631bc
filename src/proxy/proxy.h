#pragma once
// The ns-proxy: what neutron-ns-metadata-proxy (haproxy in today's Neutron) does, for many
// namespaces from one process. Each listener is a TCP socket bound inside one router or DHCP
// namespace (by the Binder, which enters the namespace to bind and comes back) and stamped with
// that namespace's router or network id.
//
// Per request: every X-Neutron-Router-ID, X-Neutron-Network-ID, X-Instance-ID,
// X-Instance-ID-Signature, X-Tenant-ID, X-Forwarded-For and X-Metadata-Provider* the guest sent
// is deleted (with the hop-by-hop headers, and every header whose name has a '_', which a WSGI
// server behind the agent would read as its '-' twin); X-Forwarded-For is set to the guest's
// address as the socket saw it and the listener's id header is set; the request goes to the
// metadata agent over its UNIX socket on pooled keep-alive connections, and the answer comes back
// with its status, Content-Type, body and the header::kPassedBack headers (http::PassBack). Agent
// down -> 502, agent too slow (beyond --agent-timeout, plus the timeout_sec of a GCE-style
// wait_for_change request: http::HoldFor) -> 504, promptly, with generic bodies that never name the
// agent's socket (the log does, once per outage and then at most every 10 s); service resumes by
// itself when the agent is back. Same protocol as Neutron's proxy: either side can be swapped.
// IMDSv2 sessions (http/session.h): a guest's PUT on the token path that carries
// X-Forwarded-For is answered 403 here (the agent never sees the guest's X-Forwarded-For), and an
// answer carrying the token TTL header (a token) leaves with hop limit 1 (Response::hop_limit).
//
// Listeners are added and removed at run time (the control API below, or Reconcile from a
// listeners file on SIGHUP) without disturbing the others. Binding in a namespace blocks (a
// thread enters the namespace and is joined): the control API does it on a thread of the
// proxy's own, never on the thread that accepts and serves. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/failure_log.h"
#include "http/forward.h"
#include "http/metrics.h"
#include "http/server.h"
#include "http/upstream.h"

namespace metastack::proxy {

struct ListenerSpec {
  enum class Kind { kRouter, kNetwork };
  std::string name;   // unique key, e.g. "qrouter-<router id>"
  std::string netns;  // "" for the proxy's own namespace
  Kind kind = Kind::kRouter;
  std::string id;              // the router or network id stamped on each request
  std::string address = "::";  // router namespaces: "::" port 9697; DHCP: 169.254.169.254:80
  uint16_t port = 9697;
  bool operator==(const ListenerSpec&) const = default;
};

// Binds and listens on spec.address:port inside spec.netns; returns the socket's descriptor.
using Binder = std::function<Result<int>(const ListenerSpec& spec)>;

// {"name", "netns", "kind": "router"|"network", "id", "address", "port"}; errors name the field.
Result<ListenerSpec> ListenerFromJson(const nlohmann::json& j);
nlohmann::json ListenerToJson(const ListenerSpec& spec, uint16_t bound_port);
// A listeners file: {"listeners": [ ... ]}.
Result<std::vector<ListenerSpec>> ParseListenersFile(const std::string& text);

// Whether a guest's header field goes on to the agent: not a hop-only one (http/headers.h
// kHopOnly, the X-Metadata-Provider* prefix included), not a hop-by-hop one (kHopByHop,
// Proxy-Authorization), not one whose name has a '_'.
bool PassedToAgent(std::string_view name);

// The edits the proxy makes to a guest's `req` on `spec`'s listener (http/forward.h): the guest's
// method, target, body and every field PassedToAgent, in order; then X-Forwarded-For = the peer's
// address and the listener's id header (router or network) = spec.id, each once. The stamps
// are views into `req` and `spec`, held in `stamps`. Pure; thread-safe.
http::HeadEdits AgentEdits(const http::Request& req, const ListenerSpec& spec,
                           std::array<http::HeadField, 2>& stamps);
// The same request as a message (http::ForwardedMessage); kInternal for an id that cannot be a
// header value.
Result<http::UpstreamRequest> RewriteForAgent(const http::Request& req, const ListenerSpec& spec);

class NsProxy {
 public:
  // `access_log`: one access-log line per answered request (http/access_log.h): the listener,
  // the guest, method, path, status (the instance is the agent's to know).
  NsProxy(http::Server& server, std::shared_ptr<http::Upstream> agent, Binder binder,
          http::Metrics& metrics, bool access_log = false);

  // Where a listener comes from: the daemon's configuration (flags, --listeners, the config
  // file), which Reconcile manages; the control API at run time, which only the control API
  // removes: a reload never closes a listener an operator (or Neutron) added by hand; or the
  // namespace manager (netns_manager/), which follows the store: neither a reload nor the
  // control API closes or takes over its listeners, and it closes only its own.
  enum class Origin { kConfig, kControl, kManaged };
  static std::string_view OriginName(Origin origin);  // "config", "control", "managed"

  // kConflict for a name already in use; returns the bound port. Blocks (binds in spec.netns):
  // never call it on an io_context thread that serves requests.
  Result<uint16_t> Add(const ListenerSpec& spec, Origin origin = Origin::kControl);
  Status Remove(const std::string& name);
  // Removes `name` only if it came from `origin`: kNotFound when there is no such listener,
  // kConflict (naming its origin) when it came from elsewhere.
  Status RemoveFrom(const std::string& name, Origin origin);
  struct ListenerInfo {
    ListenerSpec spec;
    uint16_t port = 0;
    Origin origin = Origin::kConfig;
  };
  std::optional<ListenerInfo> Find(const std::string& name) const;
  // Adds and removes configured listeners until exactly `desired` (by name and content) are
  // open; listeners added at run time stay (one with a desired name and the same settings
  // becomes configured; one with other settings, or the manager's, is kept and reported as a
  // conflict). Blocks as Add does.
  Status Reconcile(const std::vector<ListenerSpec>& desired);
  // Reconcile on the proxy's namespace thread, returning at once: for a reload asked for on an
  // io_context thread (SIGHUP). Failures are logged, per listener.
  void ReconcileInBackground(std::vector<ListenerSpec> desired);
  // {"listeners": [ListenerToJson + "origin"]}.
  nlohmann::json List() const;
  // How many listeners are open (what List() would hold, without building it).
  size_t listener_count() const;

  asio::awaitable<http::Response> Handle(http::Request& req, const ListenerSpec& spec);
  // GET /listeners, POST /listeners (a listener object), DELETE /listeners/{name} (409 for a
  // managed one), GET /metrics. A POST's Add runs on the proxy's namespace thread; the handler
  // resumes when done.
  http::Handler ControlHandler();

 private:
  struct Open {
    ListenerSpec spec;
    http::ListenerId id;
    uint16_t port;
    Origin origin;
  };
  http::Server& server_;
  std::shared_ptr<http::Upstream> agent_;
  Binder binder_;
  http::Metrics& metrics_;
  http::StatusCounters requests_;
  const bool access_log_;
  mutable std::mutex mu_;
  std::map<std::string, Open> open_;
  FailureLog agent_log_{"proxy", "agent"};
  // One thread for namespace work (binds) asked for on an io_context thread, in the order asked.
  // Last, so that it is joined before the members its work uses go.
  asio::thread_pool namespace_work_{1};
};

}  // namespace metastack::proxy
