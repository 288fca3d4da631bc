#include "api/service.h"

#include "api/answer.h"
#include "base/file.h"
#include "base/log.h"
#include "core/entity_tag.h"
#include "core/route.h"
#include "core/signing.h"
#include "http/access_log.h"
#include "http/blocking.h"
#include "http/error_response.h"
#include "http/headers.h"
#include "http/session.h"
#include "http/url.h"

namespace metastack::api {
namespace {

using http::Response;
namespace header = http::header;

std::unexpected<Error> BadRequest(std::string message) {
  return std::unexpected(MakeError(ErrorCode::kInvalidArgument, std::move(message)));
}
std::unexpected<Error> NotFound() {
  return std::unexpected(MakeError(ErrorCode::kNotFound, "no such instance"));
}

MetadataApi::PathClass ClassOf(const core::Route& r) {
  switch (r.kind) {
    case core::RouteKind::kEc2Versions:
    case core::RouteKind::kEc2:
      return MetadataApi::PathClass::kEc2;
    case core::RouteKind::kOpenStackVersions:
    case core::RouteKind::kOpenStack:
    case core::RouteKind::kContent:
      return MetadataApi::PathClass::kOpenStack;
    case core::RouteKind::kNotFound:
      return MetadataApi::PathClass::kOther;
  }
  return MetadataApi::PathClass::kOther;
}

std::string_view PathClassName(MetadataApi::PathClass cls) {
  switch (cls) {
    case MetadataApi::PathClass::kEc2:
      return "ec2";
    case MetadataApi::PathClass::kOpenStack:
      return "openstack";
    case MetadataApi::PathClass::kOther:
      return "other";
  }
  return "other";
}

std::vector<core::TokenKey> TokenKeys(const ApiOptions& options) {
  if (!options.token_keys.empty()) return options.token_keys;
  if (!options.shared_secret.empty()) return {core::DeriveTokenKey(options.shared_secret)};
  core::TokenKey key;
  SystemRandom(key.bytes);
  return {key};
}

}  // namespace

struct MetadataApi::Caller {
  std::string uuid;
  std::optional<std::string> tenant;   // must own the instance (signed mode)
  std::optional<std::string> address;  // shown as EC2 local-ipv4 when the instance has none
};

MetadataApi::MetadataApi(store::Store& store, asio::thread_pool& pool, ApiOptions options,
                         http::Metrics& metrics)
    : store_(store),
      pool_(pool),
      options_(std::move(options)),
      metrics_(metrics),
      signer_(options_.shared_secret),
      settings_(std::make_shared<const core::Settings>(options_.settings)),
      cache_(options_.cache_instances),
      limiter_(options_.rate_limit),
      sessions_(store_, pool_, TokenKeys(options_), options_.http_tokens, metrics_,
                {PathClassName(PathClass::kEc2), PathClassName(PathClass::kOpenStack),
                 PathClassName(PathClass::kOther)}),
      rate_limited_(metrics_.Counter("metastack_api_rate_limited_total", "")),
      address_mismatches_(metrics_.Counter("metastack_api_address_mismatch_total", "")),
      requests_{http::StatusCounters(metrics_, "metastack_api_requests_total",
                                     {{"path", std::string(PathClassName(PathClass::kEc2))}}),
                http::StatusCounters(metrics_, "metastack_api_requests_total",
                                     {{"path", std::string(PathClassName(PathClass::kOpenStack))}}),
                http::StatusCounters(metrics_, "metastack_api_requests_total",
                                     {{"path", std::string(PathClassName(PathClass::kOther))}})},
      watchers_(Watchers::Make({options_.watch.per_instance, options_.watch.total})) {
  metrics_.Describe("metastack_api_requests_total", "counter",
                    "Metadata requests answered, by path class and status");
  metrics_.Describe("metastack_api_request_seconds", "histogram",
                    "Time from a parsed request to its answer");
  metrics_.Describe("metastack_store_seconds", "histogram", "Store calls made by the API");
  metrics_.Describe("metastack_api_address_mismatch_total", "counter",
                    "Signed requests refused because the instance does not own the forwarded "
                    "address");
  metrics_.Describe("metastack_api_rate_limited_total", "counter",
                    "Requests answered 429: the instance was over its request rate");
  metrics_.Describe("metastack_api_watch_refused_total", "counter",
                    "wait_for_change requests answered 429: too many waiting, for the instance "
                    "(limit=instance) or in all (limit=total)");
  metrics_.Describe("metastack_api_watch_answers_total", "counter",
                    "wait_for_change requests answered, by why: the answer changed (or differed "
                    "from last_etag), the timeout passed, or the API drains");
  for (auto cls : {PathClass::kEc2, PathClass::kOpenStack, PathClass::kOther})
    latency_[static_cast<size_t>(cls)] = &metrics_.Histogram(
        "metastack_api_request_seconds", http::Labels({{"path", PathClassName(cls)}}));
  if (!options_.vendordata.targets.empty()) {
    DynamicVendorDataOptions vd = options_.vendordata;
    vd.max_instances = options_.cache_instances;
    auto made = DynamicVendorData::Make(std::move(vd), metrics_);
    if (!made) throw std::runtime_error(made.error().ToString());
    vendordata_ = std::move(*made);
  }
  watch_refused_ = {
      &metrics_.Counter("metastack_api_watch_refused_total", http::Labels({{"limit", "instance"}})),
      &metrics_.Counter("metastack_api_watch_refused_total", http::Labels({{"limit", "total"}}))};
  watch_answers_ = {&metrics_.Counter("metastack_api_watch_answers_total",
                                      http::Labels({{"outcome", "changed"}})),
                    &metrics_.Counter("metastack_api_watch_answers_total",
                                      http::Labels({{"outcome", "timeout"}})),
                    &metrics_.Counter("metastack_api_watch_answers_total",
                                      http::Labels({{"outcome", "draining"}}))};
  subscription_ = store_.Subscribe([this](const store::Change& change) {
    // The cached answers go first: a waiter woken next renders from the store's new state.
    cache_.Invalidate(change);
    if (vendordata_) vendordata_->Invalidate(change);
    if (change.kind == store::Change::Kind::kInstance) watchers_->Notify(change.id);
    sessions_.Invalidate(change);
    std::lock_guard lock(address_mu_);
    by_address_.clear();
  });
}

MetadataApi::~MetadataApi() { subscription_.reset(); }

void MetadataApi::SetSettings(core::Settings settings) {
  // Swapped first, then every rendered answer dropped: an answer cached after the drop was
  // rendered by a request that read the settings after the swap.
  settings_.store(std::make_shared<const core::Settings>(std::move(settings)),
                  std::memory_order_release);
  cache_.Invalidate(store::Change{});
  watchers_->Notify("");
}

http::Handler MetadataApi::Handler(Identification mode) {
  return [this, mode](http::Request& req) { return Handle(req, mode); };
}

void MetadataApi::LogAccess(const http::Request& req, Identification mode, std::string_view path,
                            std::string_view instance, unsigned status, double seconds) const {
  auto method = req.message.method_string();
  LogInfo("access",
          http::FormatAccessLog(
              {.listener = mode == Identification::kSigned ? "signed" : req.local_address,
               .client = mode == Identification::kSigned ? req.Header(header::kForwardedFor)
                                                         : std::string_view(req.peer.address),
               .instance_id = instance,
               .method = std::string_view(method.data(), method.size()),
               .path = path,
               .status = status,
               .duration_ms = seconds * 1000}));
}

asio::awaitable<Response> MetadataApi::Handle(http::Request& req, Identification mode) {
  auto started = std::chrono::steady_clock::now();
  bool head = req.message.method() == bhttp::verb::head;
  http::PathAndQuery target =
      http::SplitTarget(std::string_view(req.message.target().data(), req.message.target().size()));
  core::Route route = core::ResolvePath(target.path);
  std::string instance_id;  // once identified, for the access log
  bool waited = false;      // a hanging GET's time says nothing of the API's latency
  auto done = [&](Response r) {
    r = Conditional(std::move(r), req.Header(header::kIfNoneMatch));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    requests_[static_cast<size_t>(ClassOf(route))].For(r.status).Add(1);
    if (!waited) latency_[static_cast<size_t>(ClassOf(route))]->Observe(seconds);
    if (options_.access_log == ApiOptions::AccessLog::kAll ||
        (options_.access_log == ApiOptions::AccessLog::kSourceAddress &&
         mode == Identification::kSourceAddress))
      LogAccess(req, mode, target.path, instance_id, r.status, seconds);
    return r;
  };
  if (auto early = AnswerWithoutCaller(core::NormalizePath(target.path)))
    co_return done(std::move(*early));
  if (mode == Identification::kSourceAddress &&
      GuestForwardedTokenRequest(req, options_.trusted_proxies))
    co_return done(sessions_.ForwardedRefusal(head));
  auto caller = co_await Identify(req, mode);
  if (!caller) co_return done(http::ErrorResponse(caller.error(), {.head = head}));
  instance_id = caller->uuid;
  if (auto d = limiter_.Take(caller->uuid); !d.allowed) {
    rate_limited_.Add(1);
    co_return done(
        http::ErrorResponse(MakeError(ErrorCode::kResourceExhausted, "over the request rate"),
                            {.head = head, .retry_after = d.retry_after}));
  }
  auto inst = co_await Checked(*caller, mode);
  if (!inst) co_return done(http::ErrorResponse(inst.error(), {.head = head}));
  if (http::IsSessionTokenPath(target.path)) {
    Response r = sessions_.TokenAnswer(req, caller->uuid, head);
    // Behind the ns-proxy the proxy sets it (this answer goes to the agent, not the guest).
    if (mode == Identification::kSourceAddress && r.status == 200) r.hop_limit = 1;
    co_return done(std::move(r));
  }
  if (auto admitted =
          co_await sessions_.Admit(req, (*inst)->instance(), static_cast<size_t>(ClassOf(route)));
      !admitted)
    co_return done(http::ErrorResponse(admitted.error(), {.head = head}));
  auto method = req.message.method_string();
  auto use = UseOf(std::string_view(method.data(), method.size()), route);
  if (!use) co_return done(http::ErrorResponse(use.error(), {.head = head}));
  if (*use == MethodUse::kSetPassword) co_return done(co_await PostPassword(**inst, req));
  auto query = ParseMetadataQuery(target.query);
  if (!query) co_return done(http::ErrorResponse(query.error(), {.head = head}));
  auto dynamic = co_await DynamicParts(**inst, route, query->tree);
  Response now = Render(**inst, *caller, route, query->tree, dynamic.get(), head);
  if (!query->wait.wait || now.status != 200) co_return done(std::move(now));
  waited = true;
  co_return done(co_await WaitForChange(*caller, mode, route, *query, head, std::move(now)));
}

asio::awaitable<std::shared_ptr<const core::VendorDataParts>> MetadataApi::DynamicParts(
    const CachedInstance& inst, const core::Route& route, const core::TreeQuery& tree) {
  bool holds_vendor_data2 = route.kind == core::RouteKind::kOpenStack &&
                            (route.file == core::OpenStackFile::kVendorData2 ||
                             (route.file == core::OpenStackFile::kListing && tree.recursive));
  if (!vendordata_ || !holds_vendor_data2) co_return nullptr;
  co_return co_await vendordata_->Get(inst.instance());
}

Response MetadataApi::Render(const CachedInstance& inst, const Caller& caller,
                             const core::Route& route, const core::TreeQuery& tree,
                             const core::VendorDataParts* dynamic, bool head) const {
  // random_seed: the kernel's generator, as Nova's os.urandom, batched per thread.
  core::RenderContext ctx{core::Delivery::kService, caller.address, BufferedSystemRandom};
  ctx.dynamic_vendor_data = dynamic;
  ctx.identity = options_.identity.get();
  auto settings = settings_.load(std::memory_order_acquire);
  auto tagged = inst.Render(route, *settings, ctx, tree);
  if (!tagged) return http::ErrorResponse(tagged.error(), {.head = head});
  return DocumentAnswer(std::move(tagged->document), head, std::move(tagged->etag));
}

asio::awaitable<Result<std::shared_ptr<const CachedInstance>>> MetadataApi::Checked(
    const Caller& caller, Identification mode) {
  auto inst = co_await Load(caller.uuid);
  if (!inst) co_return inst;
  if (caller.tenant && *caller.tenant != (*inst)->instance().project_id) {
    LogWarning("api", "tenant " + *caller.tenant + " does not own instance " + caller.uuid);
    co_return NotFound();
  }
  if (mode == Identification::kSigned && !Vouched(caller, **inst)) co_return NotFound();
  co_return inst;
}

asio::awaitable<Response> MetadataApi::Current(const Caller& caller, Identification mode,
                                               const core::Route& route,
                                               const core::TreeQuery& tree, bool head) {
  auto inst = co_await Checked(caller, mode);
  if (!inst) co_return http::ErrorResponse(inst.error(), {.head = head});
  auto dynamic = co_await DynamicParts(**inst, route, tree);
  co_return Render(**inst, caller, route, tree, dynamic.get(), head);
}

// Why no change is missed between two reads: the guest's last_etag is the tag of what it read,
// and the tag compared is that of the answer rendered after this request registered. A change
// committed before the registration is in that answer (the feed dropped the cached one before
// waking anyone; a load that raced the change is never cached); one committed after it
// notifies the registration, whose generation then differs from the one read before the render,
// so Wait() returns at once or is woken, and the answer is rendered again.
asio::awaitable<Response> MetadataApi::WaitForChange(const Caller& caller, Identification mode,
                                                     const core::Route& route,
                                                     const MetadataQuery& query, bool head,
                                                     Response now) {
  auto outcome = [&](WatchOutcome o, Response r) {
    watch_answers_[static_cast<size_t>(o)]->Add(1);
    return r;
  };
  const std::string baseline(query.wait.last_etag ? core::OpaqueTag(*query.wait.last_etag)
                                                  : ETagOf(now));
  if (ETagOf(now) != baseline) co_return outcome(WatchOutcome::kChanged, std::move(now));
  if (watchers_->draining()) co_return outcome(WatchOutcome::kDraining, std::move(now));
  Watchers::Refusal refusal{};
  auto registration =
      watchers_->Register(caller.uuid, co_await asio::this_coro::executor, &refusal);
  if (!registration) {
    watch_refused_[static_cast<size_t>(refusal)]->Add(1);
    co_return http::ErrorResponse(registration.error(),
                                  {.head = head, .retry_after = std::chrono::seconds(5)});
  }
  auto seconds = std::min<std::chrono::seconds>(
      std::chrono::seconds(query.wait.timeout_sec.value_or(http::kDefaultWaitSeconds)),
      options_.watch.max_timeout);
  auto deadline = std::chrono::steady_clock::now() + seconds;
  for (;;) {
    uint64_t seen = registration->generation();
    now = co_await Current(caller, mode, route, query.tree, head);
    if (now.status != 200 || ETagOf(now) != baseline)
      co_return outcome(WatchOutcome::kChanged, std::move(now));
    if (watchers_->draining()) co_return outcome(WatchOutcome::kDraining, std::move(now));
    if (std::chrono::steady_clock::now() >= deadline)
      co_return outcome(WatchOutcome::kTimeout, std::move(now));
    co_await registration->Wait(seen, deadline);
  }
}

asio::awaitable<Result<MetadataApi::Caller>> MetadataApi::Identify(http::Request& req,
                                                                   Identification mode) {
  if (mode == Identification::kSourceAddress) return IdentifyByAddress(req);
  if (req.Has(header::kMetadataProvider)) return IdentifyByProvider(req);
  return IdentifySigned(req);
}

// The client is the peer, or behind a trusted proxy the right-most X-Forwarded-For address that
// is not itself a trusted proxy; its instance is the one with that address on the networks.
asio::awaitable<Result<MetadataApi::Caller>> MetadataApi::IdentifyByAddress(http::Request& req) {
  auto peer = core::ParseIp(req.peer.address);
  if (!peer) co_return NotFound();
  std::string client = peer->Unmapped().ToString();
  std::string_view xff = req.Header(header::kForwardedFor);
  if (core::InAnyOf(*peer, options_.trusted_proxies) && !xff.empty()) {
    auto hop = core::SkipTrustedHops(xff, options_.trusted_proxies);
    auto ip = hop ? core::ParseIp(hop->client) : std::nullopt;
    if (!ip) co_return NotFound();
    client = ip->Unmapped().ToString();
  }
  auto uuid = co_await InstanceByAddress(client);
  if (!uuid) co_return std::unexpected(uuid.error());
  co_return Caller{*uuid, std::nullopt, client};
}

// Nova's provider variant: the port with the X-Forwarded-For address behind the router that
// X-Metadata-Provider names (signed with X-Metadata-Provider-Signature when a secret is set).
asio::awaitable<Result<MetadataApi::Caller>> MetadataApi::IdentifyByProvider(http::Request& req) {
  std::string_view xff = req.Header(header::kForwardedFor);
  if (!req.Has(header::kForwardedFor))
    co_return BadRequest("X-Forwarded-For is missing from request.");
  std::string provider(req.Header(header::kMetadataProvider));
  std::string address(core::FirstForwardedFor(xff));
  if (!options_.shared_secret.empty() &&
      !signer_.Verify(provider, req.Header(header::kMetadataProviderSignature)))
    co_return std::unexpected(
        MakeError(ErrorCode::kPermissionDenied, "Invalid proxy request signature."));
  auto port =
      co_await http::RunBlocking(pool_, [&] { return store_.FindPortOnRouter(provider, address); });
  if (!port)
    co_return BadRequest("Expected a single port matching provider " + provider + " and IP " +
                         address + ".");
  co_return Caller{port->instance_id, port->project_id, address};
}

// X-Instance-ID signed by the metadata agent, for X-Tenant-ID.
asio::awaitable<Result<MetadataApi::Caller>> MetadataApi::IdentifySigned(http::Request& req) {
  if (!req.Has(header::kInstanceId))
    co_return BadRequest("X-Instance-ID header is missing from request.");
  if (!req.Has(header::kInstanceIdSignature))
    co_return BadRequest("X-Instance-ID-Signature header is missing from request.");
  if (!req.Has(header::kTenantId))
    co_return BadRequest("X-Tenant-ID header is missing from request.");
  if (req.HeaderCount(header::kInstanceId) > 1)
    co_return BadRequest("Multiple X-Instance-ID headers found within request.");
  if (req.HeaderCount(header::kTenantId) > 1)
    co_return BadRequest("Multiple X-Tenant-ID headers found within request.");
  std::string uuid(req.Header(header::kInstanceId));
  if (!signer_.Verify(uuid, req.Header(header::kInstanceIdSignature))) {
    LogWarning("api", "bad signature for instance " + uuid + " from " + req.peer.address);
    co_return std::unexpected(
        MakeError(ErrorCode::kPermissionDenied, "Invalid proxy request signature."));
  }
  Caller caller{uuid, std::string(req.Header(header::kTenantId)), std::nullopt};
  if (req.Has(header::kForwardedFor))
    caller.address = std::string(core::FirstForwardedFor(req.Header(header::kForwardedFor)));
  co_return caller;
}

bool MetadataApi::Vouched(const Caller& caller, const CachedInstance& instance) {
  if (!options_.check_forwarded_address || !caller.address || instance.owned().fixed.empty())
    return true;
  auto address = core::ParseIp(*caller.address);
  if (address && instance.owned().Contains(*address)) return true;
  address_mismatches_.Add(1);
  LogWarning("api", "instance " + caller.uuid + " does not own the forwarded address " +
                        *caller.address + " (a stale port cache in front?); answering 404");
  return false;
}

asio::awaitable<Result<std::shared_ptr<const CachedInstance>>> MetadataApi::Load(
    const std::string& uuid) {
  if (auto hit = cache_.Get(uuid)) co_return hit;
  uint64_t epoch = cache_.Epoch();
  auto started = std::chrono::steady_clock::now();
  auto rec = co_await http::RunBlocking(pool_, [&] { return store_.GetInstance(uuid); });
  metrics_.Observe(
      "metastack_store_seconds", http::Labels({{"op", "get_instance"}}),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!rec) {
    if (rec.error().code != ErrorCode::kNotFound)
      LogError("api", "loading instance " + uuid + ": " + rec.error().ToString());
    co_return std::unexpected(rec.error());
  }
  co_return cache_.Put(std::move(*rec), epoch);
}

asio::awaitable<Result<std::string>> MetadataApi::InstanceByAddress(const std::string& address) {
  {
    std::lock_guard lock(address_mu_);
    auto it = by_address_.find(address);
    if (it != by_address_.end()) co_return it->second;
  }
  uint64_t epoch = cache_.Epoch();
  auto found = co_await http::RunBlocking(pool_, [&]() -> Result<std::string> {
    std::vector<std::string> networks = options_.networks;
    if (networks.empty()) {
      store::ListOptions opts;
      opts.limit = 1000;
      for (;;) {
        auto page = store_.ListNetworks(opts);
        if (!page) return std::unexpected(page.error());
        for (const auto& n : page->items) networks.push_back(n.id);
        if (page->next.empty()) break;
        opts.after = page->next;
      }
    }
    std::optional<std::string> uuid;
    for (const auto& net : networks) {
      auto port = store_.FindPortOnNetwork(net, address);
      if (!port) {
        if (port.error().code == ErrorCode::kNotFound) continue;
        if (port.error().code == ErrorCode::kConflict) {  // two ports with a link-local's MAC
          LogWarning("api", port.error().message + "; not answering");
          return NotFound();
        }
        return std::unexpected(port.error());
      }
      if (uuid && *uuid != port->instance_id) {
        LogWarning("api", "address " + address + " is on more than one network; not answering");
        return NotFound();
      }
      uuid = port->instance_id;
    }
    if (!uuid) return NotFound();
    return *uuid;
  });
  if (found && epoch == cache_.Epoch()) {
    std::lock_guard lock(address_mu_);
    by_address_[address] = *found;
  }
  co_return found;
}

asio::awaitable<Response> MetadataApi::PostPassword(const CachedInstance& inst,
                                                    http::Request& req) {
  const std::string& body = req.message.body();
  // Nova's order: a password already set is a conflict whatever the size of the new one.
  if (auto writable = store::PasswordWritable(inst.instance()); !writable)
    co_return http::ErrorResponse(writable.error());
  if (body.size() > core::DocumentLimits::kMaxPasswordBytes)
    co_return http::ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "Request is too large."));
  std::string uuid = inst.instance().uuid;
  auto result = co_await http::RunBlocking(pool_, [&] { return store_.SetPassword(uuid, body); });
  cache_.Drop(uuid);
  if (!result) co_return http::ErrorResponse(result.error());
  Response r;
  r.content_type = core::kContentTypeHtml;
  co_return r;
}

}  // namespace metastack::api
