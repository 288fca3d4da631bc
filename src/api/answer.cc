#include "api/answer.h"

#include "core/entity_tag.h"
#include "core/route.h"
#include "core/session_token.h"
#include "http/error_response.h"
#include "http/headers.h"
#include "http/session.h"
#include "http/url.h"
#include "store/store.h"

namespace metastack::api {

std::optional<http::Response> AnswerWithoutCaller(std::string_view normalized_path) {
  core::Document doc{std::string(core::kContentTypeText), ""};
  if (normalized_path == "/")
    doc.body = core::Ec2VersionListing();
  else if (normalized_path == "/healthcheck")
    doc.body = "OK";
  else
    return std::nullopt;
  return DocumentAnswer(std::move(doc), false);
}

http::Response DocumentAnswer(Result<core::Document> doc, bool head, std::string etag) {
  if (!doc) return http::ErrorResponse(doc.error(), {.head = head});
  http::Response r;
  if (etag.empty()) etag = core::EntityTag(doc->content_type, doc->body);
  r.content_type = std::move(doc->content_type);
  r.body = std::move(doc->body);
  r.headers.emplace_back(http::header::kETag, std::move(etag));
  return r;
}

std::string_view ETagOf(const http::Response& answer) {
  for (const auto& [name, value] : answer.headers)
    if (name == http::header::kETag) return value;
  return {};
}

http::Response Conditional(http::Response answer, std::string_view if_none_match) {
  if (answer.status != 200 || if_none_match.empty()) return answer;
  std::string_view etag = ETagOf(answer);
  if (etag.empty() || !core::IfNoneMatchNames(if_none_match, etag)) return answer;
  http::Response r;
  r.status = 304;
  r.headers.emplace_back(http::header::kETag, std::string(etag));
  r.close = answer.close;
  return r;
}

Result<MetadataQuery> ParseMetadataQuery(std::string_view query) {
  MetadataQuery q;
  if (query.empty()) return q;
  q.tree.recursive = http::QueryParam(query, "recursive") == "true";
  if (auto alt = http::QueryParam(query, "alt")) {
    if (*alt == "json")
      q.tree.form = core::TreeQuery::Form::kJson;
    else if (*alt == "text")
      q.tree.form = core::TreeQuery::Form::kText;
    else
      return std::unexpected(MakeError(ErrorCode::kInvalidArgument, "alt must be json or text"));
  }
  q.wait = http::ParseWaitQuery(query);
  if (q.wait.bad_timeout)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "timeout_sec must be a whole number of seconds, 1 or more"));
  return q;
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
  http::PathAndQuery split = http::SplitTarget(target);
  const std::string& path = split.path;
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
  auto query = ParseMetadataQuery(split.query);
  if (!query) return http::ErrorResponse(query.error(), {.head = head});
  return DocumentAnswer(core::RenderTree(instance, route, settings, ctx, query->tree), head);
}

}  // namespace metastack::api
