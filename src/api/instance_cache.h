#pragma once
// Rendered metadata per instance, kept in memory so that a warm request never waits on the
// store, and dropped the moment the store's change feed reports an edit (no TTL).
//
// Each entry holds the parsed instance and, filled lazily, every document rendered for it, in
// each whole-tree form asked for (core/whole_tree.h), with its entity tag (core/entity_tag.h).
// A document holding meta_data.json is kept as the text around its random_seed so each answer
// still carries 512 fresh random bytes, and its tag is the text's, so it stays put. Documents
// that depend on the caller's address (the EC2 tree of an instance without an IPv4 address) are
// never kept (their tag is computed per answer), nor are those rendered with dynamic vendor data
// (RenderContext::dynamic_vendor_data, which DynamicVendorData caches).
//
// A fill races with invalidation: Put() refuses an entry loaded before the latest change,
// so a stale read can never be cached after the change that made it stale.
//
// InstanceCache holds at most `max_instances` instances and, when full, evicts by CLOCK (second
// chance): a hit sets the entry's referenced bit; a Put that needs room sweeps a hand over the
// slots, clearing set bits and evicting the first entry whose bit is already clear. An instance
// asked for at least once per sweep stays; a scan of instances asked for once each evicts only
// instances of its own kind. O(1) per Put: each sweep step clears a bit a hit set, and a sweep
// that has cleared 256 evicts where it stands (a bound on the time the lock is held when nearly
// every entry was hit since the hand last passed); one mutex guards the map and the slots, held
// for a lookup or a slot update, as long as before.
// max_instances 0 keeps nothing (every Put is served, not kept).
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metadata.h"
#include "core/ownership.h"
#include "core/whole_tree.h"
#include "store/store.h"

namespace metastack::api {

class CachedInstance {
 public:
  CachedInstance(store::InstanceRecord record)
      : record_(std::move(record)), owned_(core::AddressesOf(record_.instance)) {}

  const core::Instance& instance() const { return record_.instance; }
  // The addresses the instance answers from, parsed once per cached instance.
  const core::OwnedAddresses& owned() const { return owned_; }
  int64_t revision() const { return record_.revision; }

  // The answer for `route` in the form `query` asks for, rendered once and then served from
  // memory, and its entity tag.
  struct Tagged {
    core::Document document;
    std::string etag;
  };
  Result<Tagged> Render(const core::Route& route, const core::Settings& settings,
                        const core::RenderContext& ctx, const core::TreeQuery& query = {}) const;

 private:
  struct Entry {
    std::string content_type;
    // The body: its parts, between which a fresh random seed goes (one part when unseeded).
    std::vector<std::string> parts;
    size_t size = 0;  // of the parts together
    std::string etag;
  };
  store::InstanceRecord record_;
  core::OwnedAddresses owned_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const Entry>> docs_;
};

class InstanceCache {
 public:
  explicit InstanceCache(size_t max_instances) : max_(max_instances) {}

  std::shared_ptr<const CachedInstance> Get(const std::string& uuid);
  // The epoch to pass to Put for a load that starts now.
  uint64_t Epoch() const { return epoch_.load(); }
  // Caches a record loaded when the epoch was `epoch`, unless something changed since.
  std::shared_ptr<const CachedInstance> Put(store::InstanceRecord record, uint64_t epoch);
  // Applies a change from the feed (an empty id drops everything).
  void Invalidate(const store::Change& change);
  void Drop(const std::string& uuid);

  size_t size() const;
  size_t capacity() const { return max_; }
  uint64_t hits() const { return hits_.load(); }
  uint64_t misses() const { return misses_.load(); }
  // Instances dropped to make room (not those a change or Drop removed).
  uint64_t evictions() const { return evictions_.load(); }

 private:
  struct Slot {
    std::shared_ptr<const CachedInstance> entry;  // null: free (its index is in free_)
    bool referenced = false;
  };
  // A slot for a new entry (mu_ held): a free one, a new one below the bound, or the one the
  // CLOCK hand evicts.
  size_t TakeSlot();
  // Drops uuid's entry, if cached (mu_ held): its index key first (a view of the entry's uuid),
  // then its slot, which goes on the free list.
  void Forget(std::string_view uuid);

  const size_t max_;
  mutable std::mutex mu_;
  // Keyed by a view of the uuid of the entry in the slot, which the slot keeps alive.
  std::unordered_map<std::string_view, size_t> index_;
  std::vector<Slot> slots_;  // grows up to max_, never shrinks but on a flush
  std::vector<size_t> free_;
  size_t hand_ = 0;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> hits_{0}, misses_{0}, evictions_{0};
};

}  // namespace metastack::api
