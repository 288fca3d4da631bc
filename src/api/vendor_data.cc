#include "api/vendor_data.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "base/failure_log.h"
#include "core/vendor_data.h"
#include "http/upstream.h"

namespace metastack::api {
namespace {

constexpr std::string_view kHttp = "http://";
// What Nova's DynamicVendorData sends; targets written for Nova may look for it.
constexpr char kUserAgent[] = "openstack-nova-vendordata";
constexpr char kJson[] = "application/json";

// The request target of a URL: its path and query, "/" when it has none.
std::string TargetOf(std::string_view url) {
  std::string_view rest = url.substr(kHttp.size());
  size_t slash = rest.find_first_of("/?");
  if (slash == std::string_view::npos) return "/";
  std::string target(rest.substr(slash));
  if (target.front() == '?') target.insert(target.begin(), '/');
  return target;
}

// One fetch shared by every Get() of an instance that arrives while it runs. Waiters are
// resumed on their own executors. `values` starts as the last good answers; each target this
// flight asks (`asked`) overwrites its own slot when it answers well (`good`), and the fetch
// that finishes last, after the others' writes (remaining's acq_rel), reads them all.
struct Flight {
  Flight(std::string id, uint64_t gen, size_t n)
      : uuid(std::move(id)), generation(gen), values(n), asked(n), good(n) {}

  asio::awaitable<std::shared_ptr<const core::VendorDataParts>> Wait() {
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
        [this](auto handler) {
          auto work = asio::make_work_guard(asio::get_associated_executor(handler));
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          std::function<void()> resume = [shared, work]() mutable {
            auto ex = work.get_executor();
            asio::post(ex, [shared, work = std::move(work)]() mutable { std::move (*shared)(); });
          };
          std::unique_lock lock(mu);
          if (!done) {
            waiters.push_back(std::move(resume));
            return;
          }
          lock.unlock();
          resume();
        },
        asio::use_awaitable);
    std::lock_guard lock(mu);
    co_return parts;
  }

  void Complete(std::shared_ptr<const core::VendorDataParts> answer) {
    std::vector<std::function<void()>> resume;
    {
      std::lock_guard lock(mu);
      parts = std::move(answer);
      done = true;
      resume.swap(waiters);
    }
    for (auto& r : resume) r();
  }

  const std::string uuid;
  const uint64_t generation;
  std::vector<std::optional<core::Json>> values;
  std::vector<char> asked, good;
  std::atomic<size_t> remaining{0};

 private:
  std::mutex mu;
  bool done = false;
  std::vector<std::function<void()>> waiters;
  std::shared_ptr<const core::VendorDataParts> parts;
};

}  // namespace

struct DynamicVendorData::Impl {
  struct Target {
    VendorDataTarget config;
    std::string request_target;
    std::shared_ptr<http::Upstream> upstream;
    std::unique_ptr<FailureLog> failures;
    http::Metrics::HistogramSeries* latency = nullptr;
  };
  struct Slot {
    std::optional<core::Json> last_good;
    bool fresh = false;  // last_good was fetched since the instance's latest change
  };
  struct Entry {
    uint64_t generation = 0;
    std::vector<Slot> slots;
    std::shared_ptr<Flight> flight;
    std::shared_ptr<const core::VendorDataParts> parts;  // as of the last flight
  };

  Impl(DynamicVendorDataOptions o, http::Metrics& m) : options(std::move(o)), metrics(m) {}

  // One target's answer for one instance: the parsed JSON, or nullopt when it failed.
  asio::awaitable<std::optional<core::Json>> Fetch(size_t i, std::string uuid,
                                                   std::shared_ptr<const std::string> body) {
    Target& t = targets[i];
    http::UpstreamRequest req{bhttp::verb::post, t.request_target, 11};
    req.set(bhttp::field::content_type, kJson);
    req.set(bhttp::field::accept, kJson);
    req.set(bhttp::field::user_agent, kUserAgent);
    req.body() = *body;
    auto started = std::chrono::steady_clock::now();
    auto res = co_await t.upstream->Send(std::move(req));
    t.latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    std::string_view result = "ok";
    std::string detail;
    std::optional<core::Json> out;
    if (!res) {
      result = res.error().code == ErrorCode::kTimeout ? "timeout" : "unavailable";
      detail = res.error().message;
    } else if (res->result_int() < 200 || res->result_int() > 299) {
      result = "status";
      detail = "HTTP " + std::to_string(res->result_int());
    } else if (auto j = core::ParseDynamicVendorDataAnswer(res->body()); !j) {
      result = "invalid";
      detail = "the answer is " + j.error().message;
    } else {
      out = std::move(*j);
    }
    metrics.Add("metastack_vendordata_requests_total",
                http::Labels({{"target", t.config.name}, {"result", result}}));
    if (out)
      t.failures->Success();
    else
      t.failures->Failure(detail + " (instance " + uuid + ")");
    co_return out;
  }

  void Finish(const std::shared_ptr<Flight>& flight, size_t i, std::optional<core::Json> answer) {
    if (answer) {
      flight->values[i] = std::move(answer);
      flight->good[i] = 1;
    }
    if (flight->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    auto parts = std::make_shared<core::VendorDataParts>();
    {
      std::lock_guard lock(mu);
      auto it = entries.find(flight->uuid);
      Entry* e = it != entries.end() && it->second.flight == flight ? &it->second : nullptr;
      for (size_t k = 0; k < targets.size(); ++k) {
        if (e && flight->good[k]) {
          e->slots[k].last_good = flight->values[k];
          // An answer to a request made before the latest change is kept, but not as fresh.
          e->slots[k].fresh = e->generation == flight->generation;
        }
        parts->push_back(
            {targets[k].config.name, flight->values[k].value_or(core::Json::object())});
      }
      if (e) {
        e->flight.reset();
        e->parts = parts;
      }
    }
    flight->Complete(std::move(parts));
  }

  // The instance's entry, made (and room made for it) when missing. Under mu.
  Entry& EntryFor(const std::string& uuid) {
    auto it = entries.find(uuid);
    if (it != entries.end()) return it->second;
    if (entries.size() >= options.max_instances && !entries.empty()) entries.erase(entries.begin());
    Entry& e = entries[uuid];
    e.slots.resize(targets.size());
    return e;
  }

  DynamicVendorDataOptions options;
  http::Metrics& metrics;
  std::vector<Target> targets;
  mutable std::mutex mu;
  std::unordered_map<std::string, Entry> entries;
};

Result<VendorDataTarget> ParseVendorDataTarget(std::string_view text) {
  auto bad = [&](std::string why) {
    return std::unexpected(MakeError(ErrorCode::kInvalidArgument,
                                     "vendor data target " + std::string(text) + ": " + why));
  };
  size_t at = text.find('@');
  if (at == std::string_view::npos) return bad("expected NAME@URL");
  VendorDataTarget t{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
  if (t.name.empty()) return bad("expected NAME@URL");
  if (t.name == "static") return bad("the name static is the static vendor data's");
  if (t.url.starts_with("https://")) return bad("https is not supported; use http://");
  if (!t.url.starts_with(kHttp) || t.url.size() == kHttp.size())
    return bad("expected an http:// URL");
  return t;
}

}  // namespace metastack::api

namespace metastack::api {

Result<std::unique_ptr<DynamicVendorData>> DynamicVendorData::Make(DynamicVendorDataOptions options,
                                                                   http::Metrics& metrics) {
  metrics.Describe("metastack_vendordata_requests_total", "counter",
                   "Dynamic vendor data requests to targets, by target and result (ok, "
                   "unavailable, timeout, status, invalid)");
  metrics.Describe("metastack_vendordata_seconds", "histogram",
                   "Time a dynamic vendor data target took to answer, or to fail");
  http::UpstreamOptions up;
  up.connect_timeout = options.connect_timeout;
  up.response_timeout = options.read_timeout;
  up.max_response_bytes = options.max_answer_bytes;
  auto impl = std::make_shared<Impl>(options, metrics);
  std::unordered_set<std::string> names;
  for (const auto& config : options.targets) {
    std::string text = config.name + "@" + config.url;
    auto parsed = ParseVendorDataTarget(text);
    if (!parsed) return std::unexpected(parsed.error());
    if (!names.insert(config.name).second)
      return std::unexpected(MakeError(
          ErrorCode::kInvalidArgument,
          "vendor data target " + text + ": the name " + config.name + " is given twice"));
    auto upstream = http::MakeUpstream(config.url, up);
    if (!upstream)
      return std::unexpected(
          MakeError(ErrorCode::kInvalidArgument,
                    "vendor data target " + text + ": " + upstream.error().message));
    Impl::Target t;
    t.config = config;
    t.request_target = TargetOf(config.url);
    t.upstream = std::move(*upstream);
    t.failures = std::make_unique<FailureLog>("api", "vendor data target " + config.name);
    t.latency =
        &metrics.Histogram("metastack_vendordata_seconds", http::Labels({{"target", config.name}}));
    impl->targets.push_back(std::move(t));
  }
  return std::unique_ptr<DynamicVendorData>(new DynamicVendorData(std::move(impl)));
}

DynamicVendorData::~DynamicVendorData() = default;

asio::awaitable<std::shared_ptr<const core::VendorDataParts>> DynamicVendorData::Get(
    const core::Instance& instance) {
  if (impl_->targets.empty()) co_return std::make_shared<const core::VendorDataParts>();
  std::shared_ptr<Flight> flight;
  std::shared_ptr<const core::VendorDataParts> ready;
  bool start = false;
  {
    std::lock_guard lock(impl_->mu);
    Impl::Entry& e = impl_->EntryFor(instance.uuid);
    bool all_fresh = e.parts != nullptr;
    for (const auto& slot : e.slots) all_fresh = all_fresh && slot.fresh;
    if (e.flight) {
      flight = e.flight;
    } else if (all_fresh) {
      ready = e.parts;
    } else {
      flight = std::make_shared<Flight>(instance.uuid, e.generation, e.slots.size());
      size_t asked = 0;
      for (size_t k = 0; k < e.slots.size(); ++k) {
        flight->values[k] = e.slots[k].last_good;
        flight->asked[k] = !e.slots[k].fresh;
        asked += flight->asked[k];
      }
      flight->remaining.store(asked);
      e.flight = flight;
      start = true;
    }
  }
  if (ready) co_return ready;
  if (start) {
    auto body = std::make_shared<const std::string>(core::DynamicVendorDataRequest(instance));
    auto exec = co_await asio::this_coro::executor;
    for (size_t k = 0; k < impl_->targets.size(); ++k) {
      if (!flight->asked[k]) continue;
      asio::co_spawn(
          exec, impl_->Fetch(k, instance.uuid, body),
          [impl = impl_, flight, k](std::exception_ptr e, std::optional<core::Json> answer) {
            impl->Finish(flight, k, e ? std::nullopt : std::move(answer));
          });
    }
  }
  co_return co_await flight->Wait();
}

void DynamicVendorData::Invalidate(const store::Change& change) {
  if (change.kind != store::Change::Kind::kInstance) return;
  std::lock_guard lock(impl_->mu);
  auto stale = [](Impl::Entry& e) {
    e.generation++;
    for (auto& slot : e.slots) slot.fresh = false;
  };
  if (change.id.empty()) {
    for (auto& [uuid, e] : impl_->entries) stale(e);
    return;
  }
  auto it = impl_->entries.find(change.id);
  if (it == impl_->entries.end()) return;
  if (change.deleted)
    impl_->entries.erase(it);
  else
    stale(it->second);
}

size_t DynamicVendorData::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->entries.size();
}

}  // namespace metastack::api
