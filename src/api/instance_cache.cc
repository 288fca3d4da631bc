#include "api/instance_cache.h"

#include "base/base64.h"
#include "core/network_data.h"

namespace metastack::api {
namespace {

std::string RouteKey(const core::Route& r) {
  std::string key = std::to_string(static_cast<int>(r.kind)) + ":" + std::to_string(r.version) +
                    ":" + std::to_string(static_cast<int>(r.file));
  for (const auto& t : r.tokens) key += "/" + t;
  return key;
}

constexpr size_t kSeedBytes = 512;  // Nova's random_seed

void ZeroRandom(std::span<uint8_t> out) { std::fill(out.begin(), out.end(), 0); }

const std::string& ZeroSeed() {
  static const std::string seed =
      "\"random_seed\": \"" + Base64Encode(std::string(kSeedBytes, '\0')) + "\"";
  return seed;
}

}  // namespace

Result<core::Document> CachedInstance::Render(const core::Route& route,
                                              const core::Settings& settings,
                                              const core::RenderContext& ctx) const {
  bool address_dependent = route.kind == core::RouteKind::kEc2 &&
                           core::Ec2Addresses(record_.instance).fixed_ipv4.empty();
  // vendor_data2.json with dynamic parts changes whenever they do: rendered per request.
  if (address_dependent || ctx.dynamic_vendor_data)
    return core::Render(record_.instance, route, settings, ctx);
  std::string key = RouteKey(route);
  std::shared_ptr<const Entry> entry;
  {
    std::lock_guard lock(mu_);
    auto it = docs_.find(key);
    if (it != docs_.end()) entry = it->second;
  }
  if (!entry) {
    core::RenderContext zero = ctx;
    zero.random = ZeroRandom;
    auto doc = core::Render(record_.instance, route, settings, zero);
    if (!doc) return doc;
    auto fresh = std::make_shared<Entry>();
    fresh->content_type = doc->content_type;
    size_t at = doc->body.find(ZeroSeed());
    if (route.kind == core::RouteKind::kOpenStack && route.file == core::OpenStackFile::kMetaData &&
        at != std::string::npos) {
      size_t value = at + std::string_view("\"random_seed\": \"").size();
      fresh->head = doc->body.substr(0, value);
      fresh->tail = doc->body.substr(at + ZeroSeed().size() - 1);
      fresh->seeded = true;
    } else {
      fresh->head = std::move(doc->body);
    }
    std::lock_guard lock(mu_);
    entry = docs_.emplace(key, std::move(fresh)).first->second;
  }
  if (!entry->seeded) return core::Document{entry->content_type, entry->head};
  uint8_t bytes[kSeedBytes];
  ctx.random(bytes);
  std::string body;
  body.reserve(entry->head.size() + Base64Length(kSeedBytes) + entry->tail.size());
  body += entry->head;
  AppendBase64(body, std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  body += entry->tail;
  return core::Document{entry->content_type, std::move(body)};
}

std::shared_ptr<const CachedInstance> InstanceCache::Get(const std::string& uuid) {
  std::lock_guard lock(mu_);
  auto it = map_.find(uuid);
  if (it == map_.end()) {
    misses_++;
    return nullptr;
  }
  hits_++;
  return it->second;
}

std::shared_ptr<const CachedInstance> InstanceCache::Put(store::InstanceRecord record,
                                                         uint64_t epoch) {
  auto entry = std::make_shared<const CachedInstance>(std::move(record));
  std::lock_guard lock(mu_);
  if (epoch != epoch_.load()) return entry;  // something changed during the load: serve, don't keep
  if (map_.size() >= max_ && !map_.empty()) map_.erase(map_.begin());
  map_[entry->instance().uuid] = entry;
  return entry;
}

void InstanceCache::Invalidate(const store::Change& change) {
  std::lock_guard lock(mu_);
  epoch_++;
  if (change.kind != store::Change::Kind::kInstance) return;
  if (change.id.empty())
    map_.clear();
  else
    map_.erase(change.id);
}

void InstanceCache::Drop(const std::string& uuid) {
  std::lock_guard lock(mu_);
  epoch_++;
  map_.erase(uuid);
}

size_t InstanceCache::size() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

}  // namespace metastack::api
