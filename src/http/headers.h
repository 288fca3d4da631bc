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

// Response headers (besides Content-Type) an upstream's answer keeps on its way back to the
// guest through the agent and the proxy (http::PassBack); every other one stays behind.
inline constexpr std::array<std::string_view, 4> kPassedBack = {kAllow, kLocation, kRetryAfter,
                                                                kETag};

// Request headers of the guest's that the metadata agent passes on to the API (the proxy passes
// every one but kHopOnly; the agent builds the API's request afresh, as Neutron's does).
inline constexpr std::array<std::string_view, 1> kPassedToApi = {kIfNoneMatch};

// Headers only the metadata path's own hops may set: the proxy deletes every one a guest sends
// (prefix match for X-Metadata-Provider*), and the API trusts them only from a signed hop.
inline constexpr std::array<std::string_view, 7> kHopOnly = {
    kRouterId, kNetworkId,    kInstanceId,      kInstanceIdSignature,
    kTenantId, kForwardedFor, kMetadataProvider};

}  // namespace metastack::http::header
