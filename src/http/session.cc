#include "http/session.h"

#include <string>
#include <vector>

#include "base/strings.h"
#include "http/headers.h"
#include "http/url.h"

namespace metastack::http {

bool IsSessionTokenPath(std::string_view decoded_path) {
  std::vector<std::string> segments = PathSegments(decoded_path);
  return segments.size() == 3 && segments[0] == "latest" && segments[1] == "api" &&
         segments[2] == "token";
}

bool IsForwardedTokenRequest(const Request& req) {
  if (req.message.method() != bhttp::verb::put || !req.Has(header::kForwardedFor)) return false;
  auto target = req.message.target();
  return IsSessionTokenPath(SplitTarget(std::string_view(target.data(), target.size())).path);
}

}  // namespace metastack::http
