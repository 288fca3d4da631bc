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
#include "http/server.h"

namespace metastack::api {

// The answers given before any identification, for a normalised path (core::NormalizePath):
// "/" the EC2 version list, "/healthcheck" "OK" (as Debian's nova-api-metadata pipeline).
// nullopt for every other path.
std::optional<http::Response> AnswerWithoutCaller(std::string_view normalized_path);

// A rendered document as a 200, or its error as http::ErrorResponse maps it. `head`: the
// answer to HEAD (the server sends no body either way).
http::Response DocumentAnswer(Result<core::Document> doc, bool head);

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

// The service's answer to `method` on `target` (a request target: the path is percent-decoded
// and any ?query ignored) from a caller identified as `instance`'s, with an empty body: a POST
// on .../password is answered as the service answers an empty one, without storing anything.
http::Response Answer(const core::Instance& instance, std::string_view target,
                      std::string_view method, const core::Settings& settings,
                      const core::RenderContext& ctx);

}  // namespace metastack::api
