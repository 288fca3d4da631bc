#pragma once
// Nova's DynamicJSON vendor data, fetched without blocking anyone: for an instance, each target
// `name@url` is POSTed Nova's request body (core::DynamicVendorDataRequest) over a pooled
// keep-alive connection (http/upstream.h), all targets of the instance at once, each under its
// own connect and read deadline. Its answer goes into vendor_data2.json under its name.
//
// What a caller of Get() waits for, and what it gets:
//  * at most the connect deadline plus the read deadline (the upstream's timers bound every
//    fetch), never longer; concurrent Get()s for one instance share one fetch in flight;
//  * per target, in configuration order: the answer fetched by this Get (or the one it joined);
//    else the last good answer kept for (instance, target); else {} — as Nova, which puts {} for
//    a target that failed, and unlike Nova, which forgets the earlier answer;
//  * nothing fetched at all when every target's last answer was good and the instance has not
//    changed since (Invalidate); a target that failed is asked again at the next Get.
// A good answer: a 2xx whose body is empty ({}) or JSON (any value). Anything else fails: no
// connection, a deadline, a non-2xx status (redirects are not followed), a body that is not
// JSON. Each fetch is counted in metastack_vendordata_requests_total{target,result} (result:
// ok, unavailable, timeout, status, invalid) and timed in metastack_vendordata_seconds{target};
// a failing target is logged once when it starts failing, then at most every 10 s with a count
// (FailureLog), and once when it answers again.
//
// At most `max_instances` instances are kept (an arbitrary one is dropped to make room, as the
// instance cache does). Thread-safe: Get() may run on any io_context thread, Invalidate() on the
// change feed's thread. Fetches hold their state by shared pointer, so the object may be
// destroyed while fetches are still in flight (their answers are then dropped).

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "core/metadata.h"
#include "http/asio.h"
#include "http/metrics.h"
#include "store/store.h"

namespace metastack::api {

struct VendorDataTarget {
  std::string name;
  std::string url;  // http://HOST[:PORT][/PATH[?QUERY]]
};

// "name@url" split as Nova splits it: the name before the first '@', the URL after it.
// kInvalidArgument: no '@' or an empty name (Nova skips such a target with a warning), a URL that
// is not http:// (https:// included: there is no TLS client here), or the name "static" (Nova
// drops its answer: the static vendor data owns that key).
Result<VendorDataTarget> ParseVendorDataTarget(std::string_view text);

struct DynamicVendorDataOptions {
  std::vector<VendorDataTarget> targets;  // names unique; none: dynamic vendor data is off
  // Nova's vendordata_dynamic_connect_timeout and vendordata_dynamic_read_timeout; the read
  // deadline bounds the whole exchange once connected (Nova's, between two reads).
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds read_timeout{5'000};
  size_t max_instances = 200'000;
  size_t max_answer_bytes = 4 << 20;
};

class DynamicVendorData {
 public:
  // Resolves each target's host now (blocking: call at startup). kInvalidArgument for a
  // target ParseVendorDataTarget refuses, a name given twice, or a host that does not resolve.
  // `metrics` must outlive the object and its fetches.
  static Result<std::unique_ptr<DynamicVendorData>> Make(DynamicVendorDataOptions options,
                                                         http::Metrics& metrics);
  ~DynamicVendorData();
  DynamicVendorData(const DynamicVendorData&) = delete;
  DynamicVendorData& operator=(const DynamicVendorData&) = delete;

  // The targets' parts of vendor_data2.json for `instance` (see the top of this file). Never
  // null. `instance` is read before the first suspension only.
  asio::awaitable<std::shared_ptr<const core::VendorDataParts>> Get(const core::Instance& instance);

  // A change from the store's feed: the instance's next Get() fetches every target again (an
  // empty id: every instance's); a deleted instance is forgotten.
  void Invalidate(const store::Change& change);

  size_t size() const;  // instances held

  struct Impl;

 private:
  explicit DynamicVendorData(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace metastack::api
