#pragma once
// The metadata agent: what neutron-metadata-agent does. Listens (usually on a UNIX socket) for
// requests the ns-proxy forwards from guests, names the instance behind each and forwards the
// request to the metadata API, signed:
//
//   X-Forwarded-For (the guest, as the proxy saw it; v4-mapped IPv6 looked up as IPv4; a
//     link-local IPv6 address by the MAC it names, as Neutron's agent: store.h FindPortOnNetwork)
//   + X-Neutron-Router-ID or X-Neutron-Network-ID (the namespace the request came from)
//   -> port (store lookup through a cache the change feed clears) -> instance id + project id
//   -> X-Instance-ID, X-Tenant-ID, X-Instance-ID-Signature = hex HMAC-SHA256(secret, id)
//   -> metadata API (pooled keep-alive connections), X-Forwarded-For as the guest sent it, and
//      the guest's header::kPassedToApi headers (If-None-Match, the IMDSv2 token and its TTL).
//      A GCE-style wait_for_change request is given its timeout_sec beyond --api-timeout
//      (http::HoldFor).
//
// Answers: the API's 2xx, 3xx and 4xx pass through (status, Content-Type, body and the
// header::kPassedBack headers); no port, an ambiguous one, or both/neither id headers -> 404
// (400 for a missing or malformed X-Forwarded-For); the API's 5xx -> 500; the API down -> 502
// and its timeout -> 504, with generic bodies that never name the API's address (that goes to
// the log, once per outage and then at most every 10 s: FailureLog). Works with Nova's
// nova-api-metadata as the upstream too (same headers, same signature).
// Thread-safe: handlers may run on several io_context threads at once.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "base/failure_log.h"
#include "core/ip.h"
#include "core/signing.h"
#include "http/metrics.h"
#include "http/server.h"
#include "http/upstream.h"
#include "store/store.h"

namespace metastack::agent {

// Whether a header field of the request the proxy forwarded goes on to the API (besides what the
// agent stamps: X-Forwarded-For as received, X-Instance-ID, X-Tenant-ID and the signature):
// header::kPassedToApi, every value of each, and nothing else of the guest's.
bool PassedToApi(std::string_view name);

struct AgentOptions {
  std::string shared_secret;
  size_t cache_entries = 200'000;
  // One access-log line per answered request (http/access_log.h): the namespace ("router ID"
  // or "network ID"), the guest, the instance it was found to be, method, path, status.
  bool access_log = false;
};

class MetadataAgent {
 public:
  // `store`, `pool` and `metrics` must outlive the agent.
  MetadataAgent(store::Store& store, asio::thread_pool& pool, std::shared_ptr<http::Upstream> api,
                AgentOptions options, http::Metrics& metrics);
  ~MetadataAgent();

  http::Handler Handler() {
    return [this](http::Request& req) { return Handle(req); };
  }
  asio::awaitable<http::Response> Handle(http::Request& req);

  // Port lookups cached now (for /metrics).
  size_t cached_lookups() const;

 private:
  // A port found, with its instance id's signature: shared, never copied per request, and
  // signed once per cache entry (the secret is fixed for the agent's life).
  struct Found {
    store::PortBinding port;
    std::string signature;
  };
  // The port of `guest` (IPv4-mapped addresses already unmapped) behind the router or network.
  asio::awaitable<Result<std::shared_ptr<const Found>>> Lookup(bool router, const std::string& id,
                                                               const core::IpAddress& guest);
  void Record(unsigned status, double seconds);
  // Logs why a guest could not be identified, once per (namespace, address).
  void ReportUnknown(const std::string& guest, const std::string& behind);

  store::Store& store_;
  asio::thread_pool& pool_;
  std::shared_ptr<http::Upstream> api_;
  AgentOptions options_;
  http::Metrics& metrics_;
  http::StatusCounters requests_;
  http::Metrics::HistogramSeries& latency_;
  core::InstanceSigner signer_;
  mutable std::mutex mu_;
  // "(r|n) ID ip IP" or "(r|n) ID mac MAC" (link-local guests) -> binding, or null for
  // "no such port" (also worth remembering).
  std::unordered_map<std::string, std::shared_ptr<const Found>> cache_;
  uint64_t epoch_ = 0;
  std::unordered_set<std::string> unknown_reported_;
  std::unique_ptr<store::Subscription> subscription_;
  FailureLog api_log_{"agent", "metadata API"};
  FailureLog store_log_{"agent", "port lookup"};
};

}  // namespace metastack::agent
