#include "api/ops.h"

#include "core/metadata.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/url.h"

namespace metastack::api {

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
  auto revision = co_await http::RunBlocking(pool_, [this] { return store_.CurrentRevision(); });
  if (!revision)
    co_return http::ErrorResponse(
        MakeError(ErrorCode::kUnavailable, "store: " + revision.error().ToString()), kJson);
  // Render a document the way a request would, so a broken renderer fails the check too.
  core::Instance probe;
  probe.uuid = "00000000-0000-4000-8000-000000000000";
  probe.hostname = "healthz";
  core::RenderContext ctx{core::Delivery::kService, std::nullopt,
                          [](std::span<uint8_t> out) { std::fill(out.begin(), out.end(), 0); }};
  auto doc = core::Lookup(probe, "/openstack/latest/meta_data.json",
                          api_ ? api_->options().settings : core::Settings{}, ctx);
  if (!doc)
    co_return http::ErrorResponse(
        MakeError(ErrorCode::kInternal, "render failed: " + doc.error().ToString()), kJson);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  http::Response r;
  r.content_type = "application/json";
  r.body = nlohmann::json{{"status", "ok"}, {"store_revision", *revision}, {"check_ms", ms}}.dump();
  co_return r;
}

std::string OpsEndpoints::Metrics() {
  metrics_.Describe("metastack_api_cache_instances", "gauge", "Instances held in the API cache");
  metrics_.Describe("metastack_http_connections_open", "gauge", "Open guest connections");
  metrics_.Describe("metastack_api_rate_limit_instances", "gauge",
                    "Instances with a request-rate bucket (idle buckets expire)");
  metrics_.Describe("metastack_api_rate_limit_untracked_total", "counter",
                    "Requests admitted without a bucket: every bucket slot was in use");
  if (api_) {
    metrics_.Set("metastack_api_cache_hits_total", "", static_cast<double>(api_->cache().hits()));
    metrics_.Set("metastack_api_cache_misses_total", "",
                 static_cast<double>(api_->cache().misses()));
    metrics_.Set("metastack_api_cache_instances", "", static_cast<double>(api_->cache().size()));
    const auto& limiter = api_->rate_limiter();
    metrics_.Set("metastack_api_rate_limit_instances", "", static_cast<double>(limiter.tracked()));
    metrics_.Set("metastack_api_rate_limit_untracked_total", "",
                 static_cast<double>(limiter.untracked()));
  }
  if (server_) {
    const auto& s = server_->stats();
    metrics_.Set("metastack_http_connections_open", "", static_cast<double>(s.open.load()));
    metrics_.Set("metastack_http_timeouts_total", "", static_cast<double>(s.timed_out.load()));
    metrics_.Set("metastack_http_bad_requests_total", "",
                 static_cast<double>(s.bad_requests.load()));
  }
  return metrics_.Render();
}

}  // namespace metastack::api
