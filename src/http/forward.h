#pragma once
// How a hop (the ns-proxy, the metadata agent) forwards a request it has read to its upstream:
// the request's own header block with the hop's edits in place, written straight into the bytes
// sent — the fields the hop must not pass dropped, the ones it stamps added — instead of a
// second message built field by field and serialised again.
//
// The incoming request is the one http::Server parsed and validated (its limits, one
// Transfer-Encoding of exactly `chunked`, no obs-fold, no bare CR, one Content-Length: Beast's
// parser and request.cc's checks), so its fields are tokens and values that need no second
// check; what the hop stamps is checked here (a value with CR, LF or NUL is refused, never
// written). Every hop drops header::kHopByHop whatever its edits say and writes its own Host and
// Content-Length (as Beast's prepare_payload would: present for a body, and for an empty PUT,
// POST or OPTIONS); the body goes as read (de-chunked). The request line is the method as the
// client sent it, the target, HTTP/1.1; no Connection header (keep-alive, HTTP/1.1's default).
// Pure functions; thread-safe.

#include <span>
#include <string>
#include <string_view>

#include "base/error.h"
#include "http/server.h"
#include "http/upstream.h"

namespace metastack::http {

struct HeadField {
  std::string_view name;
  std::string_view value;
};

struct HeadEdits {
  // Whether a field of the incoming request goes on, by its name as sent (never asked about a
  // header::kHopByHop one: those never go). Null: none goes.
  bool (*keep)(std::string_view name) = nullptr;
  // Fields the hop adds, after the kept ones, in this order.
  std::span<const HeadField> stamp;
};

// Appends the request to send upstream for `in` to `out`: request line, kept fields in the
// order received, stamped fields, Host: `host`, Content-Length, the empty line, the body.
// kInternal (nothing appended) for a stamped name or value that is not a valid field.
Status WriteForwarded(const Request& in, const HeadEdits& edits, std::string_view host,
                      std::string& out);

// The same request as a message (no Host, no Content-Length: an upstream pool adds them), for
// an upstream that takes messages (an in-process handler) and for tests and fuzz targets that
// compare the two. kInternal as WriteForwarded.
Result<UpstreamRequest> ForwardedMessage(const Request& in, const HeadEdits& edits);

// Whether `name` is in header::kHopByHop (ASCII case-insensitive).
bool IsHopByHop(std::string_view name);

}  // namespace metastack::http
