#pragma once
// Runs blocking work (a database call, an image build) on a thread pool and resumes the calling
// coroutine on its own executor with the result, so the io_context never blocks.

#include <type_traits>

#include "http/asio.h"

namespace metastack::http {

template <typename F>
auto RunBlocking(asio::thread_pool& pool, F f) -> asio::awaitable<std::invoke_result_t<F>> {
  using T = std::invoke_result_t<F>;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [&pool, f = std::move(f)](auto handler) mutable {
        // The guard keeps the caller's context running until the answer is back on it: without
        // it, a context whose other work has ended returns from run() while the job is on the
        // pool, and is destroyed under a handler that still names it.
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [f = std::move(f), handler = std::move(handler),
                          work = std::move(work)]() mutable {
          T result = f();
          auto ex = work.get_executor();
          asio::post(ex,
                     [handler = std::move(handler), result = std::move(result),
                      work = std::move(work)]() mutable { std::move(handler)(std::move(result)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace metastack::http
