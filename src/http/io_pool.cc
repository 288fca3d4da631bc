#include "http/io_pool.h"

#include <algorithm>

namespace metastack::http {

IoPool::IoPool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  for (auto& ctx : contexts_) threads_.emplace_back([c = ctx.get()] { c->run(); });
}

IoPool::~IoPool() {
  Stop();
  Join();
}

asio::io_context& IoPool::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::Stop() {
  for (auto& g : guards_) g.reset();
}

void IoPool::Join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace metastack::http
