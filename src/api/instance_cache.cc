#include "api/instance_cache.h"

#include <array>

#include "base/base64.h"
#include "base/file.h"
#include "core/entity_tag.h"
#include "core/network_data.h"

namespace metastack::api {
namespace {

std::string RouteKey(const core::Route& r, const core::TreeQuery& q) {
  std::string key = std::to_string(static_cast<int>(r.kind)) + ":" + std::to_string(r.version) +
                    ":" + std::to_string(static_cast<int>(r.file)) + ":" +
                    std::to_string(q.recursive) + std::to_string(static_cast<int>(q.form));
  for (const auto& t : r.tokens) key += "/" + t;
  return key;
}

constexpr size_t kSeedBytes = 512;  // Nova's random_seed

// What cached documents are rendered with in place of a random seed: bytes drawn once per
// process, whose base64 text marks where each answer's fresh seed goes. No guest can know them,
// so no text a guest controls (user data) can be mistaken for the mark.
const std::array<uint8_t, kSeedBytes>& Placeholder() {
  static const std::array<uint8_t, kSeedBytes> bytes = [] {
    std::array<uint8_t, kSeedBytes> b{};
    SystemRandom(b);
    return b;
  }();
  return bytes;
}

const std::string& PlaceholderText() {
  static const std::string text = Base64Encode(
      std::string_view(reinterpret_cast<const char*>(Placeholder().data()), kSeedBytes));
  return text;
}

void PlaceholderRandom(std::span<uint8_t> out) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = Placeholder()[i % kSeedBytes];
}

}  // namespace

Result<CachedInstance::Tagged> CachedInstance::Render(const core::Route& route,
                                                      const core::Settings& settings,
                                                      const core::RenderContext& ctx,
                                                      const core::TreeQuery& query) const {
  bool address_dependent = route.kind == core::RouteKind::kEc2 &&
                           core::Ec2Addresses(record_.instance).fixed_ipv4.empty();
  if (address_dependent) {
    auto doc = core::RenderTree(record_.instance, route, settings, ctx, query);
    if (!doc) return std::unexpected(doc.error());
    std::string etag = core::EntityTag(doc->content_type, doc->body);
    return Tagged{std::move(*doc), std::move(etag)};
  }
  // vendor_data2.json with dynamic parts (alone or in a whole-tree answer) changes whenever they
  // do: rendered per request, never kept, but split around its seeds as a kept one is.
  bool keep = ctx.dynamic_vendor_data == nullptr;
  std::string key = RouteKey(route, query);
  std::shared_ptr<const Entry> entry;
  if (keep) {
    std::lock_guard lock(mu_);
    auto it = docs_.find(key);
    if (it != docs_.end()) entry = it->second;
  }
  if (!entry) {
    core::RenderContext marked = ctx;
    marked.random = PlaceholderRandom;
    auto doc = core::RenderTree(record_.instance, route, settings, marked, query);
    if (!doc) return std::unexpected(doc.error());
    auto fresh = std::make_shared<Entry>();
    fresh->content_type = std::move(doc->content_type);
    const std::string& mark = PlaceholderText();
    std::string_view body = doc->body;
    for (size_t at; (at = body.find(mark)) != std::string_view::npos;) {
      fresh->parts.emplace_back(body.substr(0, at));
      body.remove_prefix(at + mark.size());
    }
    fresh->parts.emplace_back(body);
    std::vector<std::string_view> views;
    for (const auto& p : fresh->parts) {
      views.push_back(p);
      fresh->size += p.size();
    }
    fresh->etag = core::EntityTag(fresh->content_type, views);
    if (keep) {
      std::lock_guard lock(mu_);
      entry = docs_.emplace(key, std::move(fresh)).first->second;
    } else {
      entry = std::move(fresh);
    }
  }
  core::Document doc{entry->content_type, {}};
  size_t seeds = entry->parts.size() - 1;
  doc.body.reserve(entry->size + seeds * Base64Length(kSeedBytes));
  doc.body += entry->parts[0];
  for (size_t i = 1; i <= seeds; ++i) {
    uint8_t bytes[kSeedBytes];
    ctx.random(bytes);
    AppendBase64(doc.body, std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
    doc.body += entry->parts[i];
  }
  return Tagged{std::move(doc), entry->etag};
}

std::shared_ptr<const CachedInstance> InstanceCache::Get(const std::string& uuid) {
  std::lock_guard lock(mu_);
  auto it = index_.find(uuid);
  if (it == index_.end()) {
    misses_++;
    return nullptr;
  }
  hits_++;
  Slot& slot = slots_[it->second];
  slot.referenced = true;
  return slot.entry;
}

size_t InstanceCache::TakeSlot() {
  if (!free_.empty()) {
    size_t slot = free_.back();
    free_.pop_back();
    return slot;
  }
  if (slots_.size() < max_) {
    slots_.emplace_back();
    return slots_.size() - 1;
  }
  // Every slot holds an entry: sweep. Each step either evicts or clears a bit a hit set, so
  // the sweep costs O(1) amortised over the hits that set the bits; and it gives up its search
  // after kMaxSweep set bits (evicting where the hand then is), so that one Put never holds the
  // lock for a turn over every entry when nearly all were hit since the last turn.
  constexpr int kMaxSweep = 256;
  for (int cleared = 0;; ++cleared) {
    Slot& slot = slots_[hand_];
    size_t at = hand_;
    hand_ = (hand_ + 1) % slots_.size();
    if (slot.referenced && cleared < kMaxSweep) {
      slot.referenced = false;
      continue;
    }
    index_.erase(std::string_view(slot.entry->instance().uuid));
    slot.entry.reset();
    evictions_++;
    return at;
  }
}

void InstanceCache::Forget(std::string_view uuid) {
  auto it = index_.find(uuid);
  if (it == index_.end()) return;
  size_t at = it->second;
  index_.erase(it);
  slots_[at] = Slot{};
  free_.push_back(at);
}

std::shared_ptr<const CachedInstance> InstanceCache::Put(store::InstanceRecord record,
                                                         uint64_t epoch) {
  auto entry = std::make_shared<const CachedInstance>(std::move(record));
  std::shared_ptr<const CachedInstance> replaced;  // released after the lock
  std::lock_guard lock(mu_);
  if (epoch != epoch_.load()) return entry;  // something changed during the load: serve, don't keep
  if (max_ == 0) return entry;
  std::string_view uuid = entry->instance().uuid;
  if (auto it = index_.find(uuid); it != index_.end()) {
    // Two misses for one instance loaded it at once: the later one replaces the entry in place
    // (the key is re-pointed at the new entry's uuid before the old one can go).
    Slot& slot = slots_[it->second];
    size_t at = it->second;
    index_.erase(it);
    replaced = std::move(slot.entry);
    slot.entry = entry;
    index_.emplace(uuid, at);
    return entry;
  }
  size_t at = TakeSlot();
  slots_[at] = Slot{entry, false};
  index_.emplace(uuid, at);
  return entry;
}

void InstanceCache::Invalidate(const store::Change& change) {
  std::vector<Slot> dropped;  // freed after the lock
  std::lock_guard lock(mu_);
  epoch_++;
  if (change.kind != store::Change::Kind::kInstance) return;
  if (change.id.empty()) {
    index_.clear();
    dropped.swap(slots_);
    free_.clear();
    hand_ = 0;
    return;
  }
  Forget(change.id);
}

void InstanceCache::Drop(const std::string& uuid) {
  std::lock_guard lock(mu_);
  epoch_++;
  Forget(uuid);
}

size_t InstanceCache::size() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

}  // namespace metastack::api
