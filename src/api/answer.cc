#include "api/answer.h"

#include "core/route.h"
#include "core/session_token.h"
#include "http/error_response.h"
#include "http/headers.h"
#include "http/session.h"
#include "http/url.h"
#include "store/store.h"

namespace metastack::api {

std::optional<http::Response> AnswerWithoutCaller(std::string_view normalized_path) {
  http::Response r;
  r.content_type = core::kContentTypeText;
  if (normalized_path == "/")
    r.body = core::Ec2VersionListing();
  else if (normalized_path == "/healthcheck")
    r.body = "OK";
  else
    return std::nullopt;
  return r;
}

http::Response DocumentAnswer(Result<core::Document> doc, bool head) {
  http::Response r;
  if (doc) {
    r.content_type = std::move(doc->content_type);
    r.body = std::move(doc->body);
    return r;
  }
  return http::ErrorResponse(doc.error(), {.head = head});
}

Result<MethodUse> UseOf(std::string_view method, const core::Route& route) {
  if (route.kind != core::RouteKind::kOpenStack || route.file != core::OpenStackFile::kPassword)
    return MethodUse::kRead;
  if (method == "GET") return MethodUse::kRead;
  if (method == "POST") return MethodUse::kSetPassword;
  return std::unexpected(
      MakeError(ErrorCode::kInvalidArgument, "GET and POST only are supported."));
}

Result<int64_t> TokenRequestTtl(std::string_view method, std::string_view ttl) {
  if (method != "PUT")
    return std::unexpected(
        MakeError(ErrorCode::kMethodNotAllowed, "A session token is requested with PUT."));
  int64_t seconds = 0;
  bool digits = !ttl.empty() && ttl.size() <= 5;
  for (char c : ttl) {
    digits = digits && c >= '0' && c <= '9';
    if (digits) seconds = seconds * 10 + (c - '0');
  }
  if (!digits || seconds < core::kMinTokenTtlSeconds || seconds > core::kMaxTokenTtlSeconds)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     std::string(http::header::kTokenTtlSeconds) +
                                         " must be a whole number of seconds in 1.." +
                                         std::to_string(core::kMaxTokenTtlSeconds) + "."));
  return seconds;
}

http::Response TokenRequestRefusal(const Error& error, bool head) {
  http::Response r = http::ErrorResponse(error, {.head = head});
  if (error.code == ErrorCode::kMethodNotAllowed)
    r.headers.emplace_back(http::header::kAllow, "PUT");
  return r;
}

http::Response Answer(const core::Instance& instance, std::string_view target,
                      std::string_view method, const core::Settings& settings,
                      const core::RenderContext& ctx) {
  bool head = method == "HEAD";
  std::string path = http::SplitTarget(target).path;
  if (auto early = AnswerWithoutCaller(core::NormalizePath(path))) return std::move(*early);
  if (http::IsSessionTokenPath(path)) {
    auto ttl = TokenRequestTtl(method, "");
    if (!ttl) return TokenRequestRefusal(ttl.error(), head);
  }
  core::Route route = core::ResolvePath(path);
  auto use = UseOf(method, route);
  if (!use) return http::ErrorResponse(use.error(), {.head = head});
  if (*use == MethodUse::kSetPassword) {
    if (auto writable = store::PasswordWritable(instance); !writable)
      return http::ErrorResponse(writable.error());
    http::Response r;
    r.content_type = core::kContentTypeHtml;
    return r;
  }
  return DocumentAnswer(core::Render(instance, route, settings, ctx), head);
}

}  // namespace metastack::api
