#include "store/store_url.h"

#include <algorithm>
#include <vector>

namespace metastack::store {
namespace {

constexpr std::string_view kRedacted = "***";

// Where the secrets are in `url`: [begin, end) of each value as written.
struct Span {
  size_t begin, end;
};

std::vector<Span> SecretSpans(std::string_view url) {
  std::vector<Span> spans;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return spans;
  size_t start = scheme_end + 3;
  size_t stop = url.find_first_of("@/", start);
  if (stop != std::string_view::npos && url[stop] == '@') {
    size_t colon = url.find(':', start);
    if (colon < stop) spans.push_back({colon + 1, stop});
    start = stop + 1;
  }
  size_t query = url.find('?', start);
  while (query != std::string_view::npos) {
    size_t begin = query + 1;
    size_t end = std::min(url.find('&', begin), url.size());
    std::string_view pair = url.substr(begin, end - begin);
    for (std::string_view key : {"password=", "sslpassword="})
      if (pair.starts_with(key)) spans.push_back({begin + key.size(), end});
    query = end < url.size() ? end : std::string_view::npos;
  }
  return spans;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences decoded; a malformed one is kept as written.
std::string PercentDecoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    int high = text[i] == '%' && i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
    int low = high >= 0 ? HexValue(text[i + 2]) : -1;
    if (low >= 0) {
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

void ReplaceAll(std::string& text, std::string_view what) {
  if (what.empty()) return;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + kRedacted.size()))
    text.replace(at, what.size(), kRedacted);
}

}  // namespace

std::string RedactedStoreUrl(std::string_view url) {
  std::string out;
  size_t copied = 0;
  for (const Span& span : SecretSpans(url)) {
    out.append(url.substr(copied, span.begin - copied));
    out.append(kRedacted);
    copied = span.end;
  }
  out.append(url.substr(copied));
  return out;
}

std::string WithoutSecrets(std::string message, std::string_view url) {
  std::vector<std::string> secrets;
  for (const Span& span : SecretSpans(url)) {
    std::string_view written = url.substr(span.begin, span.end - span.begin);
    secrets.emplace_back(written);
    secrets.push_back(PercentDecoded(written));
  }
  // The longest first, so that a secret containing another is replaced whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& secret : secrets) ReplaceAll(message, secret);
  return message;
}

}  // namespace metastack::store
