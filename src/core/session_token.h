#pragma once
// IMDSv2-style session tokens (docs/extensions.md, "Sessions"), stateless: a token is
// AES-256-GCM over {instance uuid, expiry}, so any API node holding the key verifies what any
// other issued, and nothing is stored. Layout, before base64url (RFC 4648 section 5, no
// padding; 50 characters):
//
//   key id (1 byte) | nonce (12, random) | expiry, Unix seconds, big-endian, encrypted (8) | tag
//   (16)
//
// The instance uuid is authenticated, not carried: it is part of the associated data
// ("metastack-session-v1", the key id, the uuid), so a token presented for another instance
// fails authentication exactly as a tampered one does. The key id names the key that sealed it,
// so keys rotate: the first key of a SessionTokens issues, every key verifies (ParseTokenKeys).
// Pure (the nonce comes from the caller's RandomBytes); immutable after construction,
// thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "core/metadata.h"

namespace metastack::core {

inline constexpr int64_t kMinTokenTtlSeconds = 1;
inline constexpr int64_t kMaxTokenTtlSeconds = 21600;  // AWS's bound: six hours

struct TokenKey {
  uint8_t id = 0;
  std::array<uint8_t, 32> bytes{};
};

// A keys file (`[api] token_keys_file`): one key a line, "ID HEX" with ID a decimal 0..255 and
// HEX 64 hex digits (32 bytes: `openssl rand -hex 32`); blank lines and lines starting with '#'
// are skipped. The first key issues, all verify. Errors name the line ("line 2: ..."); no keys,
// a repeated id, or a repeated key are errors.
Result<std::vector<TokenKey>> ParseTokenKeys(std::string_view text);

// The key every node that shares the metadata secret derives alike: HKDF-SHA256 (RFC 5869) of
// the secret, salt "metastack", info "imds-session-token-v1"; key id 0.
TokenKey DeriveTokenKey(std::string_view secret);

class SessionTokens {
 public:
  // `keys` non-empty, ids unique (as ParseTokenKeys returns them).
  explicit SessionTokens(std::vector<TokenKey> keys);

  // A token for `instance_uuid` valid until `expires_at` (Unix seconds), sealed with the first
  // key and a fresh nonce from `random`.
  std::string Issue(std::string_view instance_uuid, int64_t expires_at,
                    const RandomBytes& random) const;

  // The expiry (Unix seconds) of `token` when it was issued for `instance_uuid` under one of
  // the keys; else kUnauthenticated: "malformed token", "token sealed with an unknown key", or
  // "token not valid for this instance" (tampered, or another instance's: the same failure).
  Result<int64_t> Open(std::string_view token, std::string_view instance_uuid) const;
  // Open, and `now` before the expiry (else kUnauthenticated "token expired").
  Status Verify(std::string_view token, std::string_view instance_uuid, int64_t now) const;

 private:
  std::vector<TokenKey> keys_;
};

}  // namespace metastack::core
