#include "http/url.h"

#include <algorithm>
#include <charconv>

namespace metastack::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = item.find('=');
    std::string key = PercentDecode(item.substr(0, eq));
    std::replace(key.begin(), key.end(), '+', ' ');
    if (key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    std::string value(item.substr(eq + 1));
    std::replace(value.begin(), value.end(), '+', ' ');
    return PercentDecode(value);
  }
  return std::nullopt;
}

WaitQuery ParseWaitQuery(std::string_view query) {
  WaitQuery q;
  q.wait = QueryParam(query, "wait_for_change") == "true";
  q.last_etag = QueryParam(query, "last_etag");
  if (auto t = QueryParam(query, "timeout_sec")) {
    int seconds = 0;
    auto [end, ec] = std::from_chars(t->data(), t->data() + t->size(), seconds);
    if (ec == std::errc() && end == t->data() + t->size() && seconds >= 1)
      q.timeout_sec = seconds;
    else if (ec == std::errc::result_out_of_range && !t->starts_with('-'))
      q.timeout_sec = kMaxWaitSeconds;  // a huge number of seconds: the most there is
    else
      q.bad_timeout = true;
  }
  return q;
}

std::chrono::seconds HoldFor(std::string_view target) {
  size_t question = target.find('?');
  if (question == std::string_view::npos) return std::chrono::seconds(0);
  WaitQuery q = ParseWaitQuery(target.substr(question + 1));
  if (!q.wait || q.bad_timeout) return std::chrono::seconds(0);
  return std::chrono::seconds(
      std::min(q.timeout_sec.value_or(kDefaultWaitSeconds), kMaxWaitSeconds));
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.tls = true;
  } else {
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "expected http[s]://HOST[:PORT]: " + std::string(url)));
  }
  rest = rest.substr(0, rest.find('/'));
  out.authority = std::string(rest);
  // A colon inside [v6] brackets is not a port's.
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']', colon) != std::string_view::npos)
    colon = std::string_view::npos;
  std::string_view host = rest.substr(0, colon);
  out.port = colon == std::string_view::npos ? (out.tls ? "443" : "80")
                                             : std::string(rest.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  out.host = std::string(host);
  bool digits = !out.port.empty() && out.port.find_first_not_of("0123456789") == std::string::npos;
  if (out.host.empty() || !digits)
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "expected http[s]://HOST[:PORT]: " + std::string(url)));
  return out;
}

Error UnsupportedUrl(std::string_view url) {
  return MakeError(
      ErrorCode::kInvalidArgument,
      "expected http://HOST[:PORT], https://HOST[:PORT] or unix:PATH: " + std::string(url));
}

PathAndQuery SplitTarget(std::string_view target) {
  PathAndQuery t;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  // An absolute-form target ("http://host/path") carries the path after the authority.
  if (path.starts_with("http://") || path.starts_with("https://")) {
    size_t slash = path.find('/', path.find("//") + 2);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }
  t.path = PercentDecode(path);
  if (q != std::string_view::npos) t.query = std::string(target.substr(q + 1));
  return t;
}

}  // namespace metastack::http
