#pragma once
// The requests waiting for their answer to change (GCE's ?wait_for_change=true), by instance.
//
// A waiter holds no thread: it is a coroutine suspended on a timer of its own connection's
// executor until its deadline, or until Notify() names its instance (the store's change feed,
// once it has dropped the instance's cached answers), NotifyAll() or Drain(). Waking does not
// answer: the waiter renders its answer again and compares tags, so an edit that leaves its
// answer as it was keeps it waiting, and only the waiters of the instance named are woken.
//
// Waking cannot be missed: a waiter reads generation() before it renders, and Wait() returns at
// once if a notification came since; notifications after that cancel its timer.
//
// Bounded: at most Limits::per_instance waiters per instance and Limits::total in all; Register
// beyond either is kResourceExhausted (which one is in Refusal). Each waiter costs one small
// heap object here plus its request's coroutine frames.
//
// Lifetime: Watchers is shared (std::shared_ptr) by its owner and every Registration, so a
// registration destroyed with its suspended coroutine after the owner (at shutdown) is safe.
// Thread-safe: every method may be called from any thread; a Registration is used by one
// coroutine at a time, on the executor it was registered with.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "http/asio.h"

namespace metastack::api {

class Watchers : public std::enable_shared_from_this<Watchers> {
 public:
  struct Limits {
    size_t per_instance = 16;
    size_t total = 10'000;
  };
  enum class Refusal { kInstance, kTotal };

  static std::shared_ptr<Watchers> Make(Limits limits);

  class Registration;
  // kResourceExhausted over a limit; `refusal` (if given) then says which.
  Result<Registration> Register(const std::string& uuid, asio::any_io_executor executor,
                                Refusal* refusal = nullptr);

  // Wakes the waiters of one instance; an empty uuid wakes every waiter.
  void Notify(const std::string& uuid);
  // Wakes every waiter, and from now on draining() is true: waiters answer instead of waiting.
  void Drain();
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  size_t size() const;
  // Waiters registered for `uuid`.
  size_t size(const std::string& uuid) const;
  // Waiters woken so far (each then renders its answer again).
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  struct Waiter {
    explicit Waiter(asio::any_io_executor e) : executor(std::move(e)) {}
    asio::any_io_executor executor;
    std::atomic<uint64_t> generation{0};
    asio::steady_timer* timer = nullptr;  // set while waiting; read and written on `executor`
  };

  explicit Watchers(Limits limits) : limits_(limits) {}
  void Wake(const std::shared_ptr<Waiter>& waiter);  // called with mu_ held
  void Unregister(const std::string& uuid, const Waiter* waiter);

  const Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Waiter>>> by_instance_;
  size_t total_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> wakeups_{0};
};

class Watchers::Registration {
 public:
  Registration(Registration&& other) noexcept = default;
  Registration& operator=(Registration&&) = delete;
  ~Registration();

  // Read before rendering the answer; pass to Wait().
  uint64_t generation() const { return waiter_->generation.load(std::memory_order_acquire); }
  // Returns at `deadline`, or once the instance is named by a notification that came after
  // `seen` was read (at once if one came already).
  asio::awaitable<void> Wait(uint64_t seen, std::chrono::steady_clock::time_point deadline);

 private:
  friend class Watchers;
  Registration(std::shared_ptr<Watchers> owner, std::string uuid, std::shared_ptr<Waiter> waiter)
      : owner_(std::move(owner)), uuid_(std::move(uuid)), waiter_(std::move(waiter)) {}

  std::shared_ptr<Watchers> owner_;
  std::string uuid_;
  std::shared_ptr<Waiter> waiter_;
};

}  // namespace metastack::api
