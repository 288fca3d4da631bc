#pragma once
// What the metadata API answers for a path, apart from who asks: the answers that need no
// caller, and a rendered document (or its error) as an HTTP answer. MetadataApi::Handle uses
// these around identification and its cache; `metastack get` uses Answer, so the CLI prints
// exactly what the service sends (on the token path, the refusals the service gives a request
// without a TTL). Pure; thread-safe.

#include <optional>
#include <string_view>

#include "base/error.h"
#include "core/instance.h"
#include "core/metadata.h"
#include "core/route.h"
#include "core/whole_tree.h"
#include "http/server.h"
#include "http/url.h"

namespace metastack::api {

// The answers given before any identification, for a normalised path (core::NormalizePath):
// "/" the EC2 version list, "/healthcheck" "OK" (as Debian's nova-api-metadata pipeline), each
// with its ETag. nullopt for every other path.
std::optional<http::Response> AnswerWithoutCaller(std::string_view normalized_path);

// A rendered document as a 200 with `etag` as its ETag (the body's own tag when empty), or its
// error as http::ErrorResponse maps it. `head`: the answer to HEAD (the server sends no body
// either way).
http::Response DocumentAnswer(Result<core::Document> doc, bool head, std::string etag = "");

// The answer to a request carrying If-None-Match: a 200 whose ETag the field names becomes a
// 304 with that ETag and no body; any other answer stays as it is.
http::Response Conditional(http::Response answer, std::string_view if_none_match);

// The ETag of an answer ("" when it has none).
std::string_view ETagOf(const http::Response& answer);

// What a request's query asks for beyond Nova (docs/extensions.md): a whole-tree form
// (recursive=true, alt=json|text) and GCE's hanging GET (wait_for_change=true, last_etag,
// timeout_sec). Every other parameter is ignored, as Nova ignores them all. kInvalidArgument for
// an alt other than json or text ("alt must be json or text") and for a timeout_sec that is not
// a whole number of seconds of at least 1 ("timeout_sec must be a whole number of seconds, 1 or
// more").
struct MetadataQuery {
  core::TreeQuery tree;
  http::WaitQuery wait;
};
Result<MetadataQuery> ParseMetadataQuery(std::string_view query);

// What a request's method does on a route, as Nova's handler treats it: every method (POST,
// PUT, DELETE, an unknown token...) reads, answered as GET (HEAD without a body), except on an
// OpenStack .../password, where GET reads, POST sets, and any other method (HEAD too) is
// kInvalidArgument "GET and POST only are supported.".
enum class MethodUse { kRead, kSetPassword };
Result<MethodUse> UseOf(std::string_view method, const core::Route& route);

// A request on the session token path (http::IsSessionTokenPath), apart from who asks: a PUT
// whose TTL header value `ttl` (either spelling; "" when absent) is 1..21600 decimal digits
// asks for a token of that TTL; any other method is kMethodNotAllowed; a PUT with a missing or
// bad TTL kInvalidArgument. MetadataApi issues the token (api/sessions.h); the errors are
// answered alike by the service and `metastack get`.
Result<int64_t> TokenRequestTtl(std::string_view method, std::string_view ttl);
// TokenRequestTtl's error as an answer (405 with `Allow: PUT`).
http::Response TokenRequestRefusal(const Error& error, bool head);

// The service's answer to `method` on `target` (a request target: the path is percent-decoded,
// the query read as the service reads it, though wait_for_change never waits) from a caller
// identified as `instance`'s, with an empty body: a POST on .../password is answered as the
// service answers an empty one, without storing anything.
http::Response Answer(const core::Instance& instance, std::string_view target,
                      std::string_view method, const core::Settings& settings,
                      const core::RenderContext& ctx);

}  // namespace metastack::api
