#include "api/answer.h"

#include "core/route.h"
#include "http/error_response.h"
#include "http/url.h"

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

http::Response Answer(const core::Instance& instance, std::string_view target, bool head,
                      const core::Settings& settings, const core::RenderContext& ctx) {
  std::string path = http::SplitTarget(target).path;
  if (auto early = AnswerWithoutCaller(core::NormalizePath(path))) return std::move(*early);
  return DocumentAnswer(core::Render(instance, core::ResolvePath(path), settings, ctx), head);
}

}  // namespace metastack::api
