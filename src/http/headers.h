#pragma once
// Header names metastack reads or writes, in one place (never as literals elsewhere).

#include <array>
#include <string_view>

namespace metastack::http::header {

inline constexpr std::string_view kForwardedFor = "X-Forwarded-For";
inline constexpr std::string_view kInstanceId = "X-Instance-ID";
inline constexpr std::string_view kInstanceIdSignature = "X-Instance-ID-Signature";
inline constexpr std::string_view kTenantId = "X-Tenant-ID";
inline constexpr std::string_view kRouterId = "X-Neutron-Router-ID";
inline constexpr std::string_view kNetworkId = "X-Neutron-Network-ID";
inline constexpr std::string_view kMetadataProvider = "X-Metadata-Provider";
inline constexpr std::string_view kMetadataProviderSignature = "X-Metadata-Provider-Signature";
inline constexpr std::string_view kAuthorization = "Authorization";
inline constexpr std::string_view kETag = "ETag";
inline constexpr std::string_view kIfNoneMatch = "If-None-Match";
inline constexpr std::string_view kAllow = "Allow";
inline constexpr std::string_view kRetryAfter = "Retry-After";
inline constexpr std::string_view kLocation = "Location";
// IMDSv2 sessions (docs/extensions.md, "Sessions"): AWS's names, and Firecracker MMDS's
// generic ones, which mean the same.
inline constexpr std::string_view kTokenTtlSeconds = "X-aws-ec2-metadata-token-ttl-seconds";
inline constexpr std::string_view kToken = "X-aws-ec2-metadata-token";
inline constexpr std::string_view kGenericTokenTtlSeconds = "X-metadata-token-ttl-seconds";
inline constexpr std::string_view kGenericToken = "X-metadata-token";

// Response headers (besides Content-Type) an upstream's answer keeps on its way back to the
// guest through the agent and the proxy (http::PassBack); every other one stays behind.
// The token TTL marks a token answer: the ns-proxy sends it with hop limit 1.
inline constexpr std::array<std::string_view, 5> kPassedBack = {kAllow, kLocation, kRetryAfter,
                                                                kETag, kTokenTtlSeconds};

// Request headers of the guest's that the metadata agent passes on to the API (every value of
// each): If-None-Match and the IMDSv2 session headers. The agent sends the API no other header
// of the guest's, as Neutron's agent sends none (the proxy passes every one but kHopOnly).
inline constexpr std::array<std::string_view, 5> kPassedToApi = {
    kIfNoneMatch, kTokenTtlSeconds, kToken, kGenericTokenTtlSeconds, kGenericToken};

// Headers only the metadata path's own hops may set: the proxy deletes every one a guest sends
// (prefix match for X-Metadata-Provider*), and the API trusts them only from a signed hop.
inline constexpr std::array<std::string_view, 7> kHopOnly = {
    kRouterId, kNetworkId,    kInstanceId,      kInstanceIdSignature,
    kTenantId, kForwardedFor, kMetadataProvider};

// Hop-by-hop and framing headers: a hop never forwards the ones it received (http/forward.h
// writes its own Host and Content-Length; the body it sends is never chunked).
inline constexpr std::array<std::string_view, 10> kHopByHop = {
    "Connection", "Keep-Alive",        "Proxy-Connection", "TE",   "Trailer",
    "Upgrade",    "Transfer-Encoding", "Content-Length",   "Host", "Expect"};

}  // namespace metastack::http::header
