#include "api/admin.h"

#include "core/metadata.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/url.h"

namespace metastack::api {

asio::awaitable<http::Response> AdminEndpoints::Handle(http::Request& req) {
  std::string path = http::SplitTarget(std::string_view(req.message.target().data(),
                                                        req.message.target().size()))
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
  auto a = http::ErrorResponse(MakeError(ErrorCode::kNotFound, "no such endpoint"));
  co_return http::Response{a.status, a.content_type, a.body, {}, false};
}

asio::awaitable<http::Response> AdminEndpoints::Health() {
  auto started = std::chrono::steady_clock::now();
  auto revision = co_await http::RunBlocking(pool_, [this] { return store_.CurrentRevision(); });
  http::Response r;
  r.content_type = "application/json";
  if (!revision) {
    r.status = 503;
    r.body = nlohmann::json{{"status", "unavailable"}, {"store", revision.error().ToString()}}.dump();
    co_return r;
  }
  // Render a document the way a request would, so a broken renderer fails the check too.
  core::Instance probe;
  probe.uuid = "00000000-0000-4000-8000-000000000000";
  probe.hostname = "healthz";
  core::RenderContext ctx{core::Delivery::kService, std::nullopt,
                          [](std::span<uint8_t> out) { std::fill(out.begin(), out.end(), 0); }};
  auto doc = core::Lookup(probe, "/openstack/latest/meta_data.json",
                          api_ ? api_->options().settings : core::Settings{}, ctx);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  r.status = doc ? 200 : 500;
  r.body = nlohmann::json{{"status", doc ? "ok" : "render failed"},
                          {"store_revision", *revision},
                          {"check_ms", ms}}
               .dump();
  co_return r;
}

std::string AdminEndpoints::Metrics() {
  metrics_.Describe("metastack_api_cache_instances", "gauge", "Instances held in the API cache");
  metrics_.Describe("metastack_http_connections_open", "gauge", "Open guest connections");
  metrics_.Describe("metastack_api_rate_limit_instances", "gauge",
                    "Instances with a request-rate bucket (idle buckets expire)");
  metrics_.Describe("metastack_api_rate_limit_untracked_total", "counter",
                    "Requests admitted without a bucket: every bucket slot was in use");
  if (api_) {
    metrics_.Set("metastack_api_cache_hits_total", "", static_cast<double>(api_->cache().hits()));
    metrics_.Set("metastack_api_cache_misses_total", "", static_cast<double>(api_->cache().misses()));
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
    metrics_.Set("metastack_http_bad_requests_total", "", static_cast<double>(s.bad_requests.load()));
  }
  return metrics_.Render();
}

}  // namespace metastack::api
