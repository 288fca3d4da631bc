#pragma once
// The entity tag of a metadata answer, as GCE's metadata server writes its ETag: 16 lower-case
// hex digits, unquoted. Computed from the answer's content type and body alone (the first 8
// bytes of SHA-256 over them), so it changes exactly when the answer does and every API
// process serving the same store gives the same tag for the same answer. meta_data.json's
// random_seed, fresh in every answer, is left out: the caller passes the body's parts around
// the seed, so that the tag stays put while the rest does.
// Pure; thread-safe.

#include <span>
#include <string>
#include <string_view>

namespace metastack::core {

inline constexpr size_t kEntityTagLength = 16;

// The tag of an answer whose body is the concatenation of `body_parts`.
std::string EntityTag(std::string_view content_type, std::span<const std::string_view> body_parts);
std::string EntityTag(std::string_view content_type, std::string_view body);

// An entity tag as a client sent it back (bare, "quoted" or W/"weak"), without quotes or W/.
std::string_view OpaqueTag(std::string_view sent);

// Whether an If-None-Match field value names `tag` (RFC 9110 13.1.2, weak comparison): "*", or
// a comma-separated list of entity tags, each quoted ("..."), weak (W/"...") or, as GCE's
// clients send back what GCE sent, bare.
bool IfNoneMatchNames(std::string_view if_none_match, std::string_view tag);

}  // namespace metastack::core
