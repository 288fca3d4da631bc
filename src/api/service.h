#pragma once
// The metadata API: what nova-api-metadata does. A request handler on top of http/ (transport),
// core/ (rendering) and store/ (instances), shaped as:
//
//   identify the caller  ->  load the instance (cache, else the store on the worker pool)
//                        ->  render the path (cache)  ->  answer
//
// Callers are identified per listener:
//  * kSigned: behind the metadata agent. X-Instance-ID, X-Tenant-ID and
//    X-Instance-ID-Signature = hex HMAC-SHA256(secret, instance id), compared in constant time;
//    or Nova's provider variant (X-Metadata-Provider [+ -Signature]; the instance is the port
//    with the X-Forwarded-For address behind that provider, a provider being a router id).
//  * kSourceAddress: the peer's address (flat networks, or listening on 169.254.169.254), or the
//    X-Forwarded-For address when the peer is a configured trusted proxy; searched among the
//    configured networks (all networks when none are configured).
//
// Statuses follow Nova: a missing header 400, a bad signature 403, an unknown instance or a
// tenant that does not own it 404, as is a signed instance that does not own the forwarded
// address (ApiOptions::check_forwarded_address). Methods as Nova's handler takes them
// (api::UseOf): any method reads, answered as GET, but on .../password GET reads, POST sets
// (write once: 409 after) and any other method is 400.
//
// Once the caller is identified (the signed X-Instance-ID after verification, the provider's
// port, or the instance found by address), each request takes a token from that instance's
// bucket (ApiOptions::rate_limit): keyed on the instance, not the address, so the IPv4 and IPv6
// addresses of one instance share one. Over it: 429 with Retry-After (whole seconds, >= 1),
// counted in metastack_api_rate_limited_total. "/" and "/healthcheck" need no identity and take
// no token. Thread-safe: handlers may run on several io_context threads at once.

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/instance_cache.h"
#include "api/vendor_data.h"
#include "core/identity.h"
#include "core/ip.h"
#include "core/metadata.h"
#include "core/signing.h"
#include "http/asio.h"
#include "http/metrics.h"
#include "http/rate_limiter.h"
#include "http/server.h"
#include "store/store.h"

namespace metastack::api {

enum class Identification { kSigned, kSourceAddress };

struct ApiOptions {
  core::Settings settings;
  std::string shared_secret;
  std::vector<core::Cidr> trusted_proxies;
  std::vector<std::string> networks;
  size_t cache_instances = 200'000;
  // Signed mode: refuse (404) a request whose X-Forwarded-For the signed instance does not own
  // (none of its fixed IPs, nor a link-local address naming a port's MAC), so that a stale
  // port cache in front can never hand one tenant's guest another's instance. Instances without
  // fixed IPs, and requests without X-Forwarded-For, are not checked.
  bool check_forwarded_address = true;
  // Per instance. cloud-init's boot crawl is ~30 requests: the burst allows it several times
  // over at once, the rate a crawl every 1.5 s for as long as a guest keeps at it.
  http::RateLimit rate_limit{20, 200};
  // One access-log line per answered request (http/access_log.h): on source-address listeners
  // only (kSourceAddress: the signed ones' requests are logged by the agent in front, in this
  // process), or on every listener (kAll).
  enum class AccessLog { kOff, kSourceAddress, kAll };
  AccessLog access_log = AccessLog::kOff;
  // Nova's DynamicJSON targets for vendor_data2.json (api/vendor_data.h); none: off, and
  // vendor_data2.json is {"static": ...} alone. max_instances is cache_instances.
  DynamicVendorDataOptions vendordata;
  // Signs the EC2 instance identity document (core/identity.h); null: no dynamic/ tree.
  std::shared_ptr<const core::IdentitySigner> identity;
};

class MetadataApi {
 public:
  // `store`, `pool` and `metrics` must outlive this object. Subscribes to the store's change
  // feed for as long as it lives. Throws std::runtime_error for a vendor data target that
  // DynamicVendorData::Make refuses (a startup error).
  MetadataApi(store::Store& store, asio::thread_pool& pool, ApiOptions options,
              http::Metrics& metrics);
  ~MetadataApi();

  http::Handler Handler(Identification mode);
  asio::awaitable<http::Response> Handle(http::Request& req, Identification mode);

  const InstanceCache& cache() const { return cache_; }
  const http::RateLimiter& rate_limiter() const { return limiter_; }

  // The `path` label of the request metrics.
  enum class PathClass { kEc2, kOpenStack, kOther };
  const ApiOptions& options() const { return options_; }

  // What documents are rendered with (vendor data, DHCP domain): options().settings until
  // SetSettings, which applies to every answer from then on (cached answers are dropped).
  std::shared_ptr<const core::Settings> settings() const {
    return settings_.load(std::memory_order_acquire);
  }
  void SetSettings(core::Settings settings);

 private:
  struct Caller;
  asio::awaitable<Result<Caller>> Identify(http::Request& req, Identification mode);
  // One per identification mode (see the top of this file).
  asio::awaitable<Result<Caller>> IdentifyByAddress(http::Request& req);
  asio::awaitable<Result<Caller>> IdentifyByProvider(http::Request& req);
  asio::awaitable<Result<Caller>> IdentifySigned(http::Request& req);
  asio::awaitable<Result<std::shared_ptr<const CachedInstance>>> Load(const std::string& uuid);
  asio::awaitable<Result<std::string>> InstanceByAddress(const std::string& address);
  asio::awaitable<http::Response> PostPassword(const CachedInstance& inst, http::Request& req);
  bool Vouched(const Caller& caller, const CachedInstance& instance);
  void Record(PathClass cls, unsigned status, double seconds);
  void LogAccess(const http::Request& req, Identification mode, std::string_view path,
                 std::string_view instance, unsigned status, double seconds) const;

  store::Store& store_;
  asio::thread_pool& pool_;
  ApiOptions options_;
  http::Metrics& metrics_;
  core::InstanceSigner signer_;
  std::atomic<std::shared_ptr<const core::Settings>> settings_;
  InstanceCache cache_;
  http::RateLimiter limiter_;
  http::Metrics::CounterSeries& rate_limited_;
  http::Metrics::CounterSeries& address_mismatches_;
  // Each request updates its metrics through these, without the registry's lock.
  std::array<http::StatusCounters, 3> requests_;  // by PathClass
  std::array<http::Metrics::HistogramSeries*, 3> latency_{};
  std::unique_ptr<DynamicVendorData> vendordata_;  // null without targets
  std::mutex address_mu_;
  std::unordered_map<std::string, std::string> by_address_;  // ip mode: address -> uuid
  std::unique_ptr<store::Subscription> subscription_;
};

}  // namespace metastack::api
