#pragma once
// A fixed set of io_contexts, each run by exactly one thread, to serve connections on: the
// io_context-per-thread design of Asio's "HTTP server 2" example. A connection handed to one
// of them stays there, so its handlers never need a strand, and each context is created with
// concurrency hint 1, so its reactor and scheduler take no locks. The listeners themselves stay
// on the caller's io_context and only accept (http::Server).
//
// The threads start at construction and keep running until Stop(): then each context finishes
// the work it still has (the connections Server::Stop() closed) and its thread ends; Join()
// waits for that, and the destructor does both. Next() may be called from any thread.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "http/asio.h"

namespace metastack::http {

class IoPool {
 public:
  // `threads` 0 means one per core.
  explicit IoPool(size_t threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // The context for the next connection (round-robin).
  asio::io_context& Next();
  size_t size() const { return contexts_.size(); }

  void Stop();
  void Join();

 private:
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace metastack::http
