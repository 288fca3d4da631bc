#include "http/forward.h"

#include <charconv>

#include "base/strings.h"
#include "http/headers.h"

namespace metastack::http {
namespace {

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

Status CheckStamps(std::span<const HeadField> stamp) {
  for (const auto& f : stamp) {
    bool name_ok = !f.name.empty();
    for (unsigned char c : f.name) name_ok = name_ok && IsTokenChar(c);
    bool value_ok = f.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
    if (!name_ok || !value_ok)
      return std::unexpected(
          MakeError(ErrorCode::kInternal, "cannot forward a request stamped with an invalid " +
                                              std::string(name_ok ? "value of " : "header name ") +
                                              std::string(f.name)));
  }
  return Ok();
}

// Beast's prepare_payload for a request whose body is known: a length for a body, and for an
// empty PUT, POST or OPTIONS.
bool SendsContentLength(const Request& in) {
  auto m = in.message.method();
  return !in.message.body().empty() || m == bhttp::verb::put || m == bhttp::verb::post ||
         m == bhttp::verb::options;
}

template <typename Field>
bool Kept(const HeadEdits& edits, const Field& f) {
  std::string_view name = Sv(f.name_string());
  return edits.keep && !IsHopByHop(name) && edits.keep(name);
}

}  // namespace

bool IsHopByHop(std::string_view name) {
  for (auto h : header::kHopByHop)
    if (EqualsIgnoreAsciiCase(name, h)) return true;
  return false;
}

Status WriteForwarded(const Request& in, const HeadEdits& edits, std::string_view host,
                      std::string& out) {
  METASTACK_RETURN_IF_ERROR(CheckStamps(edits.stamp));
  const auto& m = in.message;
  auto line = [&](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  out.reserve(out.size() + 512 + m.body().size());
  out += Sv(m.method_string());
  out += ' ';
  out += Sv(m.target());
  out += " HTTP/1.1\r\n";
  for (const auto& f : m)
    if (Kept(edits, f)) line(Sv(f.name_string()), Sv(f.value()));
  for (const auto& f : edits.stamp) line(f.name, f.value);
  line("Host", host);
  if (SendsContentLength(in)) {
    char digits[24];
    auto [end, _] = std::to_chars(digits, digits + sizeof digits, m.body().size());
    line("Content-Length", std::string_view(digits, end - digits));
  }
  out += "\r\n";
  out += m.body();
  return Ok();
}

Result<UpstreamRequest> ForwardedMessage(const Request& in, const HeadEdits& edits) {
  METASTACK_RETURN_IF_ERROR(CheckStamps(edits.stamp));
  UpstreamRequest out = UpstreamRequestFor(in);
  for (const auto& f : in.message)
    if (Kept(edits, f)) out.insert(f.name_string(), f.value());
  for (const auto& f : edits.stamp)
    out.insert(beast::string_view(f.name.data(), f.name.size()),
               beast::string_view(f.value.data(), f.value.size()));
  out.body() = in.message.body();
  return out;
}

}  // namespace metastack::http
