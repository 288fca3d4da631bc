#include "daemon/ops.h"

#include "core/metadata.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/tls.h"
#include "http/url.h"

namespace metastack::daemon {

asio::awaitable<http::Response> OpsEndpoints::Handle(http::Request& req) {
  std::string path =
      http::SplitTarget(std::string_view(req.message.target().data(), req.message.target().size()))
          .path;
  if (req.message.method() == bhttp::verb::get || req.message.method() == bhttp::verb::head) {
    if (path == "/healthz") co_return co_await Health();
    if (path == "/metrics") {
      http::Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = Metrics();
      co_return r;
    }
  }
  co_return http::ErrorResponse(MakeError(ErrorCode::kNotFound, "no such endpoint"));
}

asio::awaitable<http::Response> OpsEndpoints::Health() {
  auto started = std::chrono::steady_clock::now();
  constexpr http::ErrorForm kJson{.body = http::ErrorBody::kJson};
  nlohmann::json body = {{"status", "ok"}, {"components", nlohmann::json::array()}};
  if (parts_.api) body["components"].push_back("api");
  if (parts_.agent) body["components"].push_back("agent");
  if (parts_.proxy) {
    body["components"].push_back("proxy");
    body["proxy_listeners"] = parts_.proxy->listener_count();
  }
  if (parts_.manager) {
    nlohmann::json state = parts_.manager->State();
    nlohmann::json managed = {
        {"host", state["host"]}, {"served", 0}, {"absent", 0}, {"failed", 0}, {"conflict", 0}};
    for (const auto& ns : state["namespaces"])
      managed[ns["state"].get<std::string>()] =
          managed[ns["state"].get<std::string>()].get<int>() + 1;
    body["managed"] = std::move(managed);
  }
  if (parts_.keeper) body["configdrive"] = parts_.keeper->State();
  if (parts_.store && parts_.pool) {
    store::Store& store = *parts_.store;
    auto revision =
        co_await http::RunBlocking(*parts_.pool, [&store] { return store.CurrentRevision(); });
    if (!revision)
      co_return http::ErrorResponse(
          MakeError(ErrorCode::kUnavailable, "store: " + revision.error().ToString()), kJson);
    body["store_revision"] = *revision;
  }
  if (parts_.api) {
    // Render a document the way a request would, so a broken renderer fails the check too.
    core::Instance probe;
    probe.uuid = "00000000-0000-4000-8000-000000000000";
    probe.hostname = "healthz";
    core::RenderContext ctx{core::Delivery::kService, std::nullopt,
                            [](std::span<uint8_t> out) { std::fill(out.begin(), out.end(), 0); }};
    auto doc =
        core::Lookup(probe, "/openstack/latest/meta_data.json", *parts_.api->settings(), ctx);
    if (!doc)
      co_return http::ErrorResponse(
          MakeError(ErrorCode::kInternal, "render failed: " + doc.error().ToString()), kJson);
  }
  body["check_ms"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  http::Response r;
  r.content_type = "application/json";
  r.body = body.dump();
  co_return r;
}

std::string OpsEndpoints::Metrics() {
  auto gauge = [this](const char* name, const char* help, double value) {
    metrics_.Describe(name, "gauge", help);
    metrics_.SetGauge(name, "", value);
  };
  auto counter = [this](const char* name, const char* help, double value) {
    metrics_.Describe(name, "counter", help);
    metrics_.Set(name, "", value);
  };
  if (const auto* api = parts_.api) {
    counter("metastack_api_cache_hits_total", "Answers rendered from the API cache",
            static_cast<double>(api->cache().hits()));
    counter("metastack_api_cache_misses_total", "Instances loaded from the store",
            static_cast<double>(api->cache().misses()));
    counter("metastack_api_cache_evictions_total",
            "Instances dropped from the full API cache to make room (CLOCK: one not asked for "
            "since the hand last passed)",
            static_cast<double>(api->cache().evictions()));
    gauge("metastack_api_cache_instances", "Instances held in the API cache",
          static_cast<double>(api->cache().size()));
    gauge("metastack_api_rate_limit_instances",
          "Instances with a request-rate bucket (idle buckets expire)",
          static_cast<double>(api->rate_limiter().tracked()));
    counter("metastack_api_rate_limit_untracked_total",
            "Requests admitted without a bucket: every bucket slot was in use",
            static_cast<double>(api->rate_limiter().untracked()));
    gauge("metastack_api_watchers", "wait_for_change requests waiting for a change now",
          static_cast<double>(api->waiting()));
    counter("metastack_api_watch_wakeups_total",
            "Waiting requests woken by a change of their instance (each renders its answer "
            "again; it is answered only if the answer changed)",
            static_cast<double>(api->wakeups()));
  }
  if (const auto* agent = parts_.agent)
    gauge("metastack_agent_cached_lookups",
          "Port lookups the agent holds (cleared by the store's change feed)",
          static_cast<double>(agent->cached_lookups()));
  if (const auto* proxy = parts_.proxy)
    gauge("metastack_proxy_listeners", "Listeners open in router and DHCP namespaces",
          static_cast<double>(proxy->listener_count()));
  if (const auto* server = parts_.server) {
    const auto& s = server->stats();
    gauge("metastack_http_connections_open", "Open connections on the data path",
          static_cast<double>(s.open.load()));
    counter("metastack_http_timeouts_total", "Connections closed for a read or write deadline",
            static_cast<double>(s.timed_out.load()));
    counter("metastack_http_bad_requests_total", "Requests that could not be read (400/413/431)",
            static_cast<double>(s.bad_requests.load()));
  }
  for (auto [listener, server, tls] : {std::tuple{"signed", parts_.server, parts_.signed_tls},
                                       {"admin", parts_.admin_server, parts_.admin_tls}}) {
    if (!tls) continue;
    const auto labels = http::Labels({{"listener", listener}});
    metrics_.Describe("metastack_tls_certificate_expiry_timestamp_seconds", "gauge",
                      "When the certificate a TLS listener serves stops being valid (its "
                      "notAfter), seconds since the epoch");
    metrics_.SetGauge("metastack_tls_certificate_expiry_timestamp_seconds", labels,
                      static_cast<double>(tls->not_after()));
    if (!server) continue;
    metrics_.Describe("metastack_tls_handshake_failures_total", "counter",
                      "TLS handshakes that failed or timed out (a client without a certificate "
                      "or with one the CA did not sign, a client refusing ours, a plain-HTTP "
                      "client)");
    metrics_.Set("metastack_tls_handshake_failures_total", labels,
                 static_cast<double>(server->stats().tls_failures.load()));
  }
  return metrics_.Render();
}

}  // namespace metastack::daemon
