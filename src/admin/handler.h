#pragma once
// The admin API over HTTP: bearer-token authentication (401 without a token, 403 with a wrong
// one, compared in constant time), then admin::DispatchAttempt on the worker pool; between the
// tries of a PATCH that lost a race it waits on a timer, holding no pool thread. Paths outside
// /v1/ go to `fallback` (the service's /healthz and /metrics) without authentication.
// Mount it only on an operator-facing listener, never a guest-facing one.

#include <string>

#include "http/server.h"
#include "store/store.h"

namespace metastack::admin {

// `store` and `pool` must outlive the handler. An empty token refuses every /v1/ request.
http::Handler MakeAdminHandler(store::Store& store, asio::thread_pool& pool, std::string token,
                               http::Handler fallback);

}  // namespace metastack::admin
