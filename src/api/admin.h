#pragma once
// The API's operator-facing listener (never the guest-facing one): GET /healthz, which
// exercises the real lookup path (a store round trip and a render), and GET /metrics in
// Prometheus text format. Thread-safe.

#include "api/service.h"
#include "http/metrics.h"
#include "http/server.h"
#include "store/store.h"

namespace metastack::api {

class AdminEndpoints {
 public:
  AdminEndpoints(store::Store& store, asio::thread_pool& pool, http::Metrics& metrics,
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
