#include "http/request_head.h"

#include <algorithm>

namespace metastack::http {

std::optional<HeadEnd> HeadScan::Scan(std::string_view data) {
  for (size_t lf; (lf = data.find('\n', line_start_)) != std::string_view::npos;
       line_start_ = lf + 1) {
    bool cr = lf > line_start_ && data[lf - 1] == '\r';
    if (!cr) bare_lf_ = true;
    if (lf - line_start_ == (cr ? 1u : 0u)) return HeadEnd{lf + 1, bare_lf_};
  }
  return std::nullopt;
}

std::string WithCrlf(std::string_view head) {
  std::string out;
  out.reserve(head.size() + static_cast<size_t>(std::count(head.begin(), head.end(), '\n')));
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) out.push_back('\r');
    out.push_back(head[i]);
  }
  return out;
}

}  // namespace metastack::http
