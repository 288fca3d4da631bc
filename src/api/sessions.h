#pragma once
// IMDSv2 sessions in the metadata API (docs/extensions.md, "Sessions"), for callers already
// identified as an instance:
//
//  * the token path (http::IsSessionTokenPath): PUT with X-aws-ec2-metadata-token-ttl-seconds
//    (or Firecracker's X-metadata-token-ttl-seconds) 1..21600 -> 200 text/plain, the token, and
//    the TTL header back; a missing or bad TTL 400; any other method 405 with `Allow: PUT`.
//    core::SessionTokens seals the token for the instance and its expiry: stateless, so any API
//    node with the same keys accepts it;
//  * every other request: a token that is sent (X-aws-ec2-metadata-token or X-metadata-token)
//    must be valid for this instance and unexpired, else 401; a request without one is counted
//    (metastack_api_tokenless_requests_total{path}) and, under the policy `required`, 401.
//
// The policy of an instance: its document's metadata_options.http_tokens when set; else
// `required` when any network of its ports says so (store::Network::http_tokens, cached here and
// dropped by the change feed); else the daemon's default (ApiOptions::http_tokens).
// Thread-safe: any number of requests at once.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/instance.h"
#include "core/ip.h"
#include "core/session_token.h"
#include "http/asio.h"
#include "http/metrics.h"
#include "http/server.h"
#include "store/store.h"

namespace metastack::api {

class Sessions {
 public:
  // `store`, `pool` and `metrics` must outlive this object. `keys` non-empty (the first
  // issues). `path_labels`: the `path` label values of the tokenless counter, indexed as the
  // caller's path classes.
  Sessions(store::Store& store, asio::thread_pool& pool, std::vector<core::TokenKey> keys,
           core::HttpTokens default_policy, http::Metrics& metrics,
           const std::array<std::string_view, 3>& path_labels);

  // The answer on the token path for `instance_uuid`'s caller. `head`: answering HEAD.
  http::Response TokenAnswer(const http::Request& req, const std::string& instance_uuid, bool head);

  // The 403 for a token request the guest sent with X-Forwarded-For
  // (GuestForwardedTokenRequest), counted.
  http::Response ForwardedRefusal(bool head);

  // Ok when the request may be answered for `instance`; else kUnauthenticated (or the store's
  // error while reading a network's policy). `path_class` indexes path_labels.
  asio::awaitable<Status> Admit(const http::Request& req, const core::Instance& instance,
                                size_t path_class);

  // The policy that applies to `instance` now (see the top of this file).
  asio::awaitable<Result<core::HttpTokens>> PolicyOf(const core::Instance& instance);

  // A network's change from the feed: its cached policy is dropped (everything for "flush
  // all").
  void Invalidate(const store::Change& change);

 private:
  asio::awaitable<Result<std::optional<core::HttpTokens>>> NetworkPolicy(const std::string& id);
  void Refused(std::string_view reason);

  store::Store& store_;
  asio::thread_pool& pool_;
  core::SessionTokens tokens_;
  core::HttpTokens default_;
  http::Metrics& metrics_;
  http::Metrics::CounterSeries& issued_;
  std::array<http::Metrics::CounterSeries*, 3> tokenless_{};
  std::mutex mu_;
  uint64_t epoch_ = 0;  // bumped by every Invalidate, under mu_
  std::unordered_map<std::string, std::optional<core::HttpTokens>> networks_;
};

// Whether the caller, on a source-address listener, sent X-Forwarded-For on a PUT to the token
// path itself (http::IsForwardedTokenRequest): from a peer that is not a trusted proxy, any
// X-Forwarded-For; behind trusted proxies, an address left of the first untrusted one (the
// client's) was written by the guest. Answered 403 (http::kForwardedTokenRequest).
bool GuestForwardedTokenRequest(const http::Request& req,
                                const std::vector<core::Cidr>& trusted_proxies);

}  // namespace metastack::api
