#pragma once
// The proxy signature Neutron's metadata agent and Nova share: hex(HMAC-SHA256(secret, id)).
// Pure; thread-safe.

#include <string>
#include <string_view>

namespace metastack::core {

// Lower-case hex HMAC-SHA256 of `id` under `secret` (64 characters).
std::string SignInstanceId(std::string_view secret, std::string_view id);

// Compares in time independent of where the strings differ; upper-case hex does not match
// (as in Nova).
bool VerifyInstanceSignature(std::string_view secret, std::string_view id,
                             std::string_view signature);

}  // namespace metastack::core
