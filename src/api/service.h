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
// no token.
//
// Beyond Nova (docs/extensions.md, "Change notification"): every 200 carries an ETag
// (core/entity_tag.h) and If-None-Match naming it gets a 304; ?recursive=true and ?alt=json|text
// choose a whole-tree form (core/whole_tree.h); ?wait_for_change=true[&last_etag=E]
// [&timeout_sec=N] is GCE's hanging GET: answered at once when the answer's ETag is not E,
// else held (api/watchers.h: no thread, woken by the change feed for this instance only) until
// the answer's ETag changes or the timeout (ApiOptions::Watch) passes, then answered as it is
// then. Without last_etag the ETag when the request arrived is the one to differ from (the next
// change). Over the waiter limits: 429 with Retry-After. Drain() answers every waiter at once.
// Requests without these parameters and headers are answered as before.
// IMDSv2 sessions (api/sessions.h), once the instance is loaded and vouched for: the token path
// issues tokens (on a source-address listener with hop limit 1), and every other request is
// admitted by its token or the instance's policy. A source-address listener refuses (403) a
// token request that the guest sent with X-Forwarded-For (behind the ns-proxy, the proxy does).
// Thread-safe: handlers may run on several io_context threads at once.

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/answer.h"
#include "api/instance_cache.h"
#include "api/sessions.h"
#include "api/vendor_data.h"
#include "api/watchers.h"
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
  // GCE-style wait_for_change: the longest wait honoured (a longer timeout_sec is cut to it; at
  // most http::kMaxWaitSeconds, which the hops in front allow for), and how many requests may
  // wait at once per instance and in all (beyond: 429).
  struct Watch {
    std::chrono::seconds max_timeout{300};
    size_t per_instance = 16;
    size_t total = 10'000;
  };
  Watch watch;
  // IMDSv2 sessions: the policy of instances that set none and whose networks set none.
  core::HttpTokens http_tokens = core::HttpTokens::kOptional;
  // The keys that seal session tokens (the first issues, all open). Empty: one derived from
  // shared_secret (core::DeriveTokenKey), so every node sharing the secret shares it; with no
  // secret either, a random key of this process.
  std::vector<core::TokenKey> token_keys;
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
  // Requests waiting for a change now.
  size_t waiting() const { return watchers_->size(); }
  // Waiters woken by a change so far (each renders its answer again).
  uint64_t wakeups() const { return watchers_->wakeups(); }
  // Answers every waiting request now, and every one that comes later at once (SIGTERM's drain).
  void Drain() { watchers_->Drain(); }
  Sessions& sessions() { return sessions_; }
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
  // The instance as a checked caller may see it: loaded, owned by the caller's tenant, and (in
  // signed mode) owning the forwarded address; else the error to answer.
  asio::awaitable<Result<std::shared_ptr<const CachedInstance>>> Checked(const Caller& caller,
                                                                         Identification mode);
  // The answer for the caller now: 200 with its ETag, or the error.
  asio::awaitable<http::Response> Current(const Caller& caller, Identification mode,
                                          const core::Route& route, const core::TreeQuery& tree,
                                          bool head);
  // GCE's hanging GET, given the answer now (a 200).
  asio::awaitable<http::Response> WaitForChange(const Caller& caller, Identification mode,
                                                const core::Route& route,
                                                const MetadataQuery& query, bool head,
                                                http::Response now);
  // Nova's DynamicJSON parts when the answer holds vendor_data2.json and targets are
  // configured (waits at most the targets' deadlines), else null.
  asio::awaitable<std::shared_ptr<const core::VendorDataParts>> DynamicParts(
      const CachedInstance& inst, const core::Route& route, const core::TreeQuery& tree);
  // The answer from `inst` (cached where it can be), with its ETag.
  http::Response Render(const CachedInstance& inst, const Caller& caller, const core::Route& route,
                        const core::TreeQuery& tree, const core::VendorDataParts* dynamic,
                        bool head) const;
  bool Vouched(const Caller& caller, const CachedInstance& instance);
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
  Sessions sessions_;
  http::Metrics::CounterSeries& rate_limited_;
  http::Metrics::CounterSeries& address_mismatches_;
  // Each request updates its metrics through these, without the registry's lock.
  std::array<http::StatusCounters, 3> requests_;  // by PathClass
  std::array<http::Metrics::HistogramSeries*, 3> latency_{};
  std::unique_ptr<DynamicVendorData> vendordata_;  // null without targets
  std::mutex address_mu_;
  std::unordered_map<std::string, std::string> by_address_;  // ip mode: address -> uuid
  std::shared_ptr<Watchers> watchers_;
  std::array<http::Metrics::CounterSeries*, 2> watch_refused_{};  // by Watchers::Refusal
  enum class WatchOutcome { kChanged, kTimeout, kDraining };
  std::array<http::Metrics::CounterSeries*, 3> watch_answers_{};  // by WatchOutcome
  std::unique_ptr<store::Subscription> subscription_;
};

}  // namespace metastack::api
