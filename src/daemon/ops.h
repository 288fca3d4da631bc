#pragma once
// The ops endpoints of a daemon process, for every component it runs, served on its
// operator-facing listeners (the admin listener, --ops-listen, never a guest-facing one):
//
// GET /healthz: 200 {"status": "ok", "components": [...], "store_revision": N, "check_ms": T}
//   after exercising what the process runs: a store round trip (API, agent) and a render of a
//   probe document (API); with the namespace manager, "managed": {"host": H, "served": N,
//   "absent": N, "failed": N, "conflict": N} (its namespaces by state); with the drive keeper,
//   "configdrive": its State() (drives kept, failing, pending). A failed check is
//   http::ErrorResponse's JSON form: 502 "unavailable" when the store cannot be reached, 500
//   "internal" when the probe document does not render.
// GET /metrics: Prometheus text format: every component's series (they share one registry) and
//   the gauges read at scrape time (API cache and rate limiter, agent lookups cached, proxy
//   listeners open, the data-path server's connections).
// Anything else is 404 (the admin API mounts this as its fallback). Thread-safe.

#include <string>
#include <vector>

#include "agent/agent.h"
#include "api/service.h"
#include "drives/keeper.h"
#include "http/metrics.h"
#include "http/server.h"
#include "netns_manager/manager.h"
#include "proxy/proxy.h"
#include "store/store.h"

namespace metastack::daemon {

// What the process runs; null for a component it does not.
struct OpsParts {
  store::Store* store = nullptr;
  asio::thread_pool* pool = nullptr;  // for store calls; set with `store`
  const api::MetadataApi* api = nullptr;
  const agent::MetadataAgent* agent = nullptr;
  const proxy::NsProxy* proxy = nullptr;
  const http::Server* server = nullptr;  // the data path's server
  const netns_manager::NamespaceManager* manager = nullptr;
  const drives::DriveKeeper* keeper = nullptr;
  const http::Server* admin_server = nullptr;
  // TLS of the signed listeners (served by `server`) and of the admin listener.
  const http::TlsServer* signed_tls = nullptr;
  const http::TlsServer* admin_tls = nullptr;
};

class OpsEndpoints {
 public:
  // `metrics` and every part must outlive this object.
  OpsEndpoints(http::Metrics& metrics, OpsParts parts) : metrics_(metrics), parts_(parts) {}

  asio::awaitable<http::Response> Handle(http::Request& req);
  http::Handler Handler() {
    return [this](http::Request& req) { return Handle(req); };
  }

 private:
  asio::awaitable<http::Response> Health();
  std::string Metrics();

  http::Metrics& metrics_;
  OpsParts parts_;
};

}  // namespace metastack::daemon
