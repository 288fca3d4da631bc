#include "api/sessions.h"

#include <chrono>

#include "api/answer.h"
#include "base/file.h"
#include "base/strings.h"
#include "core/metadata.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/headers.h"
#include "http/session.h"

namespace metastack::api {
namespace {

namespace header = http::header;

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The first of the two spellings the request carries ("" when neither).
std::string_view EitherHeader(const http::Request& req, std::string_view aws,
                              std::string_view generic) {
  if (req.Has(aws)) return req.Header(aws);
  return req.Header(generic);
}

}  // namespace

Sessions::Sessions(store::Store& store, asio::thread_pool& pool, std::vector<core::TokenKey> keys,
                   core::HttpTokens default_policy, http::Metrics& metrics,
                   const std::array<std::string_view, 3>& path_labels)
    : store_(store),
      pool_(pool),
      tokens_(std::move(keys)),
      default_(default_policy),
      metrics_(metrics),
      issued_(metrics_.Counter("metastack_api_tokens_issued_total", "")) {
  metrics_.Describe("metastack_api_tokens_issued_total", "counter",
                    "Session tokens issued (PUT /latest/api/token answered 200)");
  metrics_.Describe("metastack_api_token_refusals_total", "counter",
                    "Session requests refused, by reason: bad_ttl (400), forwarded (403, "
                    "source-address listeners), invalid or expired token, missing token under "
                    "the policy required (401)");
  metrics_.Describe("metastack_api_tokenless_requests_total", "counter",
                    "Requests of identified instances without a session token, by path class "
                    "(AWS's MetadataNoToken): zero means the policy required is safe");
  for (std::string_view reason : {"bad_ttl", "forwarded", "invalid", "expired", "missing"})
    metrics_.Counter("metastack_api_token_refusals_total", http::Labels({{"reason", reason}}));
  for (size_t i = 0; i < path_labels.size(); ++i)
    tokenless_[i] = &metrics_.Counter("metastack_api_tokenless_requests_total",
                                      http::Labels({{"path", path_labels[i]}}));
}

void Sessions::Refused(std::string_view reason) {
  metrics_.Add("metastack_api_token_refusals_total", http::Labels({{"reason", reason}}));
}

http::Response Sessions::ForwardedRefusal(bool head) {
  Refused("forwarded");
  return http::ErrorResponse(
      MakeError(ErrorCode::kPermissionDenied, std::string(http::kForwardedTokenRequest)),
      {.head = head});
}

http::Response Sessions::TokenAnswer(const http::Request& req, const std::string& instance_uuid,
                                     bool head) {
  auto method = req.message.method_string();
  auto ttl =
      TokenRequestTtl(std::string_view(method.data(), method.size()),
                      EitherHeader(req, header::kTokenTtlSeconds, header::kGenericTokenTtlSeconds));
  if (!ttl) {
    if (ttl.error().code == ErrorCode::kInvalidArgument) Refused("bad_ttl");
    return TokenRequestRefusal(ttl.error(), head);
  }
  http::Response r;
  r.content_type = core::kContentTypeText;
  r.body = tokens_.Issue(instance_uuid, UnixNow() + *ttl, BufferedSystemRandom);
  r.headers.emplace_back(header::kTokenTtlSeconds, std::to_string(*ttl));
  issued_.Add(1);
  return r;
}

asio::awaitable<Status> Sessions::Admit(const http::Request& req, const core::Instance& instance,
                                        size_t path_class) {
  std::string_view token = EitherHeader(req, header::kToken, header::kGenericToken);
  if (!token.empty()) {
    auto opened = tokens_.Open(token, instance.uuid);
    if (!opened) {
      Refused("invalid");
      co_return std::unexpected(opened.error());
    }
    if (*opened <= UnixNow()) {
      Refused("expired");
      co_return std::unexpected(MakeError(ErrorCode::kUnauthenticated, "token expired"));
    }
    co_return Ok();
  }
  tokenless_[path_class]->Add(1);
  auto policy = co_await PolicyOf(instance);
  if (!policy) co_return std::unexpected(policy.error());
  if (*policy == core::HttpTokens::kRequired) {
    Refused("missing");
    co_return std::unexpected(MakeError(
        ErrorCode::kUnauthenticated,
        "A session token is required: PUT " + std::string(http::kSessionTokenPath) + " first."));
  }
  co_return Ok();
}

asio::awaitable<Result<core::HttpTokens>> Sessions::PolicyOf(const core::Instance& instance) {
  if (instance.metadata_options.http_tokens) co_return *instance.metadata_options.http_tokens;
  if (default_ == core::HttpTokens::kRequired) co_return default_;
  for (size_t i = 0; i < instance.ports.size(); ++i) {
    const std::string& network = instance.ports[i].network_id;
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || instance.ports[j].network_id == network;
    if (seen) continue;
    auto policy = co_await NetworkPolicy(network);
    if (!policy) co_return std::unexpected(policy.error());
    if (*policy == core::HttpTokens::kRequired) co_return core::HttpTokens::kRequired;
  }
  co_return default_;
}

asio::awaitable<Result<std::optional<core::HttpTokens>>> Sessions::NetworkPolicy(
    const std::string& id) {
  uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    if (auto it = networks_.find(id); it != networks_.end()) co_return it->second;
    epoch = epoch_;
  }
  auto network = co_await http::RunBlocking(pool_, [&] { return store_.GetNetwork(id); });
  std::optional<core::HttpTokens> policy;
  if (network)
    policy = network->http_tokens;
  else if (network.error().code != ErrorCode::kNotFound)
    co_return std::unexpected(network.error());
  std::lock_guard lock(mu_);
  if (epoch == epoch_) networks_[id] = policy;
  co_return policy;
}

void Sessions::Invalidate(const store::Change& change) {
  std::lock_guard lock(mu_);
  if (change.kind == store::Change::Kind::kNetwork) {
    epoch_++;
    networks_.erase(change.id);
  } else if (change.id.empty()) {
    epoch_++;
    networks_.clear();
  }
}

bool GuestForwardedTokenRequest(const http::Request& req,
                                const std::vector<core::Cidr>& trusted_proxies) {
  if (!http::IsForwardedTokenRequest(req)) return false;
  auto peer = core::ParseIp(req.peer.address);
  if (!peer || !core::InAnyOf(*peer, trusted_proxies)) return true;
  // Right to left: trusted hops, then the client; anything left of the client is the guest's.
  auto hop = core::SkipTrustedHops(req.Header(header::kForwardedFor), trusted_proxies);
  return hop && !TrimBlanks(hop->before).empty();
}

}  // namespace metastack::api
