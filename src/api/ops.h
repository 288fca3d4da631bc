#pragma once
// The ops endpoints, served on the API's operator-facing listener (never the guest-facing one):
// GET /healthz, which exercises the real lookup path (a store round trip and a render), and
// GET /metrics in Prometheus text format. (The operators' API of instances, networks and
// routers is admin/, which mounts these as its fallback.) Thread-safe.
//
// /healthz answers 200 {"status": "ok", "store_revision": N, "check_ms": T}; a failed check is
// http::ErrorResponse's JSON form: 502 "unavailable" when the store cannot be reached, 500
// "internal" when the probe document does not render.

#include "api/service.h"
#include "http/metrics.h"
#include "http/server.h"
#include "store/store.h"

namespace metastack::api {

class OpsEndpoints {
 public:
  OpsEndpoints(store::Store& store, asio::thread_pool& pool, http::Metrics& metrics,
               const MetadataApi* api, const http::Server* server)
      : store_(store), pool_(pool), metrics_(metrics), api_(api), server_(server) {}

  // Answers /healthz and /metrics; anything else is 404 (the admin API adds its own routes).
  asio::awaitable<http::Response> Handle(http::Request& req);
  http::Handler Handler() {
    return [this](http::Request& req) { return Handle(req); };
  }

 private:
  asio::awaitable<http::Response> Health();
  std::string Metrics();

  store::Store& store_;
  asio::thread_pool& pool_;
  http::Metrics& metrics_;
  const MetadataApi* api_;
  const http::Server* server_;
};

}  // namespace metastack::api
