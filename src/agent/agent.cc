#include "agent/agent.h"

#include "base/log.h"
#include "base/strings.h"
#include "core/ip.h"
#include "core/ownership.h"
#include "core/signing.h"
#include "http/access_log.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/forward.h"
#include "http/headers.h"
#include "http/url.h"

namespace metastack::agent {
namespace {

namespace header = http::header;

http::Response NotFound() {
  return http::ErrorResponse(MakeError(ErrorCode::kNotFound, "no port"));
}

}  // namespace

bool PassedToApi(std::string_view name) {
  for (std::string_view passed : header::kPassedToApi)
    if (EqualsIgnoreAsciiCase(name, passed)) return true;
  return false;
}

MetadataAgent::MetadataAgent(store::Store& store, asio::thread_pool& pool,
                             std::shared_ptr<http::Upstream> api, AgentOptions options,
                             http::Metrics& metrics)
    : store_(store),
      pool_(pool),
      api_(std::move(api)),
      options_(std::move(options)),
      metrics_(metrics),
      requests_(metrics, "metastack_agent_requests_total"),
      latency_(metrics.Histogram("metastack_agent_request_seconds", "")),
      signer_(options_.shared_secret) {
  metrics_.Describe("metastack_agent_requests_total", "counter", "Requests answered, by status");
  metrics_.Describe("metastack_agent_request_seconds", "histogram", "Time to answer a request");
  subscription_ = store_.Subscribe([this](const store::Change&) {
    std::lock_guard lock(mu_);
    cache_.clear();
    unknown_reported_.clear();
    epoch_++;
  });
}

size_t MetadataAgent::cached_lookups() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

MetadataAgent::~MetadataAgent() { subscription_.reset(); }

void MetadataAgent::ReportUnknown(const std::string& guest, const std::string& behind) {
  {
    std::lock_guard lock(mu_);
    // Once per guest and namespace until the store changes; a bounded set, so that a guest
    // cycling through addresses cannot grow it (past the bound it starts over).
    if (unknown_reported_.size() >= 4096) unknown_reported_.clear();
    if (!unknown_reported_.insert(behind + " " + guest).second) return;
  }
  LogInfo("agent", "no port with address " + guest + " behind " + behind +
                       ": answering 404 (logged once until the store changes)");
}

void MetadataAgent::Record(unsigned status, double seconds) {
  requests_.For(status).Add(1);
  latency_.Observe(seconds);
}

asio::awaitable<Result<std::shared_ptr<const MetadataAgent::Found>>> MetadataAgent::Lookup(
    bool router, const std::string& id, const core::IpAddress& guest) {
  // Ids hold no spaces. A link-local guest is looked up by the MAC its address names, so every
  // address naming that MAC shares one entry.
  std::string ip = guest.ToString();
  auto mac = core::LinkLocalMac(guest);
  std::string key = (router ? "r " : "n ") + id + (mac ? " mac " + *mac : " ip " + ip);
  uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (it->second) co_return it->second;
      co_return std::unexpected(MakeError(ErrorCode::kNotFound, "no port"));
    }
    epoch = epoch_;
  }
  auto found = co_await http::RunBlocking(pool_, [&] {
    return router ? store_.FindPortOnRouter(id, ip) : store_.FindPortOnNetwork(id, ip);
  });
  if (!found && found.error().code != ErrorCode::kNotFound)
    co_return std::unexpected(found.error());
  std::shared_ptr<const Found> entry;
  if (found) {
    std::string signature = signer_.Sign(found->instance_id);
    entry = std::make_shared<const Found>(Found{std::move(*found), std::move(signature)});
  }
  {
    std::lock_guard lock(mu_);
    if (epoch == epoch_) {
      if (cache_.size() >= options_.cache_entries) cache_.clear();
      cache_[key] = entry;
    }
  }
  if (!entry) co_return std::unexpected(found.error());
  co_return entry;
}

asio::awaitable<http::Response> MetadataAgent::Handle(http::Request& req) {
  auto started = std::chrono::steady_clock::now();
  std::string behind, guest, instance_id;  // for the access log, as they become known
  auto done = [&](http::Response r) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    Record(r.status, seconds);
    if (options_.access_log) {
      auto method = req.message.method_string();
      auto target = req.message.target();
      LogInfo("access", http::FormatAccessLog(
                            {.listener = behind,
                             .client = guest.empty() ? req.Header(header::kForwardedFor) : guest,
                             .instance_id = instance_id,
                             .method = std::string_view(method.data(), method.size()),
                             .path = std::string_view(target.data(), target.size()),
                             .status = r.status,
                             .duration_ms = seconds * 1000}));
    }
    return r;
  };
  std::string_view xff = req.Header(header::kForwardedFor);
  if (xff.empty() || req.HeaderCount(header::kForwardedFor) > 1)
    co_return done(http::ErrorResponse(
        MakeError(ErrorCode::kInvalidArgument, "exactly one X-Forwarded-For header is required")));
  auto ip = core::ParseIp(xff);
  if (!ip)
    co_return done(http::ErrorResponse(
        MakeError(ErrorCode::kInvalidArgument, "X-Forwarded-For is not an IP address")));
  guest = ip->Unmapped().ToString();
  bool has_router = req.Has(header::kRouterId);
  bool has_network = req.Has(header::kNetworkId);
  if (has_router == has_network) {
    LogWarning("agent", std::string("request from ") + guest + " carries " +
                            (has_router ? "both X-Neutron-Router-ID and X-Neutron-Network-ID"
                                        : "neither X-Neutron-Router-ID nor X-Neutron-Network-ID"));
    co_return done(NotFound());
  }
  std::string id(req.Header(has_router ? header::kRouterId : header::kNetworkId));
  behind = (has_router ? "router " : "network ") + id;
  auto looked_up = co_await Lookup(has_router, id, ip->Unmapped());
  if (!looked_up) {
    const auto& port = looked_up;
    if (port.error().code == ErrorCode::kConflict)
      LogWarning("agent", port.error().message + "; answering 404");
    else if (port.error().code != ErrorCode::kNotFound)
      store_log_.Failure(guest + ": " + port.error().ToString());
    else
      store_log_.Success();
    if (port.error().code == ErrorCode::kNotFound) {
      auto mac = core::LinkLocalMac(*ip);
      ReportUnknown(mac ? guest + " (MAC " + *mac + ")" : guest, behind);
    }
    co_return done(port.error().code == ErrorCode::kUnavailable ? http::ErrorResponse(port.error())
                                                                : NotFound());
  }
  store_log_.Success();
  const store::PortBinding* port = &(*looked_up)->port;
  const std::string& signature = (*looked_up)->signature;
  instance_id = port->instance_id;

  const std::array<http::HeadField, 4> stamps = {
      http::HeadField{header::kForwardedFor, xff},
      http::HeadField{header::kInstanceId, port->instance_id},
      http::HeadField{header::kTenantId, port->project_id},
      http::HeadField{header::kInstanceIdSignature, signature}};
  auto target = req.message.target();
  auto res = co_await api_->Forward(req, http::HeadEdits{&PassedToApi, stamps},
                                    http::HoldFor(std::string_view(target.data(), target.size())));
  if (!res) {
    api_log_.Failure(res.error().message);
    co_return done(http::ErrorResponse(res.error()));
  }
  unsigned status = res->result_int();
  if (status >= 500) {
    api_log_.Failure("answered " + std::to_string(status) + " for instance " + port->instance_id);
    co_return done(http::ErrorResponse(MakeError(ErrorCode::kInternal, "upstream failed")));
  }
  api_log_.Success();
  co_return done(http::PassBack(std::move(*res)));
}

}  // namespace metastack::agent
