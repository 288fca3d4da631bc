#pragma once
// What every hop of the metadata path knows of IMDSv2 sessions (docs/extensions.md,
// "Sessions"): the token path as the API routes it, and the one refusal a hop in front of the
// API makes itself: a token request that came through a forwarder on the guest's side. The API
// issues and checks the tokens (api/sessions.h). Pure; thread-safe.

#include <string_view>

#include "http/server.h"

namespace metastack::http {

// PUT here: a token.
inline constexpr std::string_view kSessionTokenPath = "/latest/api/token";

// Whether a decoded path names the token path once normalised as core::NormalizePath does
// ("//latest/./api/token/" does; "/ec2/latest/api/token" does not).
bool IsSessionTokenPath(std::string_view decoded_path);

// A PUT on the token path carrying X-Forwarded-For: something on the guest's side forwarded it
// (a container's proxy, an SSRF-able web server). Refused with 403 kPermissionDenied and this
// message, as AWS refuses it, by the first hop that sees the guest's own headers: the ns-proxy,
// or the API's source-address listener.
bool IsForwardedTokenRequest(const Request& req);
inline constexpr std::string_view kForwardedTokenRequest =
    "A session token request must not carry X-Forwarded-For.";

}  // namespace metastack::http
