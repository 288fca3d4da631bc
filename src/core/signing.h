#pragma once
// The proxy signature Neutron's metadata agent and Nova share: hex(HMAC-SHA256(secret, id)).
// Pure; thread-safe.

#include <memory>
#include <string>
#include <string_view>

namespace metastack::core {

// Lower-case hex HMAC-SHA256 of `id` under `secret` (64 characters), keyed per call: for tools
// and tests that sign once; request paths use InstanceSigner.
std::string SignInstanceId(std::string_view secret, std::string_view id);

// The same signature under one secret, keyed once: the HMAC's inner and outer SHA-256 states
// are computed at construction, so a signature costs two short hash finalisations instead of
// an algorithm fetch, a context allocation and the key schedule per call (the request path of
// the API and the agent signs or verifies on every request). Immutable after construction;
// Sign and Verify may be called from any number of threads at once.
class InstanceSigner {
 public:
  explicit InstanceSigner(std::string_view secret);
  ~InstanceSigner();
  InstanceSigner(const InstanceSigner&) = delete;
  InstanceSigner& operator=(const InstanceSigner&) = delete;

  std::string Sign(std::string_view id) const;
  // Compares in time independent of where the strings differ; upper-case hex does not match
  // (as in Nova).
  bool Verify(std::string_view id, std::string_view signature) const;

 private:
  struct Keyed;
  std::unique_ptr<Keyed> keyed_;
};

}  // namespace metastack::core
