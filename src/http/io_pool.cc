#include "http/io_pool.h"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace metastack::http {

IoPool::IoPool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] { c->run(); });
    // Named so that `top -H`, /proc/PID/task/*/comm and perf tell the connection threads apart
    // from the store and feed threads (at most 15 characters).
    std::string name = "metastack-io-" + std::to_string(threads_.size() - 1);
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
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
