#pragma once
// The one mapping from Error to an HTTP answer, used by every service and by the CLI's view of
// the service. Bodies follow Nova's (webob's plain-text error page: "<status>\n\n<explanation>
// \n\n   "), so clients that print or match them see what they see from Nova. Not-found,
// conflict, internal, unavailable (502) and timeout (504) answers never echo the error's
// message, so internal detail (paths, addresses, sockets) never reaches a guest.
// Pure; thread-safe.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace metastack::http {

struct ErrorAnswer {
  unsigned status = 500;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After)
};

// `head`: the answer to a HEAD request, which (as from Nova) has no body and webob's default
// content type. A positive `retry_after` adds a Retry-After header (whole seconds)
// for a client told to come back later (429 kResourceExhausted).
ErrorAnswer ErrorResponse(const Error& error, bool head = false,
                          std::chrono::seconds retry_after = std::chrono::seconds(0));

// "Not Found" for 404, and so on (the reason phrase of the statuses metastack sends).
std::string_view ReasonPhrase(unsigned status);

}  // namespace metastack::http
