#include "api/watchers.h"

#include <algorithm>

namespace metastack::api {

std::shared_ptr<Watchers> Watchers::Make(Limits limits) {
  return std::shared_ptr<Watchers>(new Watchers(limits));
}

Result<Watchers::Registration> Watchers::Register(const std::string& uuid,
                                                  asio::any_io_executor executor,
                                                  Refusal* refusal) {
  auto waiter = std::make_shared<Waiter>(std::move(executor));
  std::lock_guard lock(mu_);
  auto over = [&](Refusal r, const char* message) {
    if (refusal) *refusal = r;
    return std::unexpected(MakeError(ErrorCode::kResourceExhausted, message));
  };
  if (total_ >= limits_.total) return over(Refusal::kTotal, "too many requests waiting");
  auto& list = by_instance_[uuid];
  if (list.size() >= limits_.per_instance) {
    if (list.empty()) by_instance_.erase(uuid);
    return over(Refusal::kInstance, "too many requests of this instance waiting");
  }
  list.push_back(waiter);
  total_++;
  return Registration(shared_from_this(), uuid, std::move(waiter));
}

void Watchers::Unregister(const std::string& uuid, const Waiter* waiter) {
  std::lock_guard lock(mu_);
  auto it = by_instance_.find(uuid);
  if (it == by_instance_.end()) return;
  auto& list = it->second;
  auto found = std::find_if(list.begin(), list.end(),
                            [&](const std::shared_ptr<Waiter>& w) { return w.get() == waiter; });
  if (found == list.end()) return;
  *found = std::move(list.back());
  list.pop_back();
  total_--;
  if (list.empty()) by_instance_.erase(it);
}

void Watchers::Wake(const std::shared_ptr<Waiter>& waiter) {
  waiter->generation.fetch_add(1, std::memory_order_acq_rel);
  wakeups_.fetch_add(1, std::memory_order_relaxed);
  // The timer belongs to the waiter's executor: cancel it there. A waiter not suspended yet
  // sees the new generation before it suspends.
  asio::post(waiter->executor, [waiter] {
    if (waiter->timer) waiter->timer->cancel();
  });
}

void Watchers::Notify(const std::string& uuid) {
  std::lock_guard lock(mu_);
  if (uuid.empty()) {
    for (const auto& [_, list] : by_instance_)
      for (const auto& w : list) Wake(w);
    return;
  }
  auto it = by_instance_.find(uuid);
  if (it == by_instance_.end()) return;
  for (const auto& w : it->second) Wake(w);
}

void Watchers::Drain() {
  draining_.store(true, std::memory_order_release);
  Notify("");
}

size_t Watchers::size() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t Watchers::size(const std::string& uuid) const {
  std::lock_guard lock(mu_);
  auto it = by_instance_.find(uuid);
  return it == by_instance_.end() ? 0 : it->second.size();
}

Watchers::Registration::~Registration() {
  if (owner_) owner_->Unregister(uuid_, waiter_.get());
}

asio::awaitable<void> Watchers::Registration::Wait(uint64_t seen,
                                                   std::chrono::steady_clock::time_point deadline) {
  asio::steady_timer timer(waiter_->executor, deadline);
  if (generation() != seen) co_return;
  // Cleared however the wait ends (also when the suspended coroutine is destroyed), so that a
  // late cancel never reaches a timer that is gone.
  struct Clear {
    Waiter* w;
    ~Clear() { w->timer = nullptr; }
  } clear{waiter_.get()};
  waiter_->timer = &timer;
  beast::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace metastack::api
