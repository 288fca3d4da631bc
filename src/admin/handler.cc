#include "admin/handler.h"

#include <openssl/crypto.h>

#include "admin/dispatcher.h"
#include "http/blocking.h"
#include "http/headers.h"
#include "http/url.h"

namespace metastack::admin {
namespace {

http::Response ToResponse(const AdminReply& reply) {
  http::Response r;
  r.status = reply.status;
  if (reply.status != 204) {
    r.content_type = "application/json";
    r.body = reply.body.dump();
  }
  return r;
}

bool SameToken(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

http::Handler MakeAdminHandler(store::Store& store, asio::thread_pool& pool, std::string token,
                               http::Handler fallback) {
  return [&store, &pool, token = std::move(token),
          fallback = std::move(fallback)](http::Request& req) -> asio::awaitable<http::Response> {
    http::PathAndQuery target = http::SplitTarget(
        std::string_view(req.message.target().data(), req.message.target().size()));
    if (!target.path.starts_with("/v1/") && target.path != "/v1") co_return co_await fallback(req);
    std::string_view auth = req.Header(http::header::kAuthorization);
    if (!auth.starts_with("Bearer ")) {
      auto r = ToResponse(ErrorReply(
          MakeError(ErrorCode::kUnauthenticated, "an Authorization: Bearer token is required")));
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      co_return r;
    }
    if (token.empty() || !SameToken(auth.substr(7), token))
      co_return ToResponse(ErrorReply(MakeError(ErrorCode::kPermissionDenied, "wrong token")));
    AdminRequest ar{std::string(req.message.method_string()), target.path, target.query,
                    req.message.body()};
    // Store calls run on the pool; a PATCH that must try again waits on a timer between tries,
    // so the pool thread serves others (guests' cache misses among them) meanwhile.
    for (int attempt = 0;; ++attempt) {
      AdminAttempt a =
          co_await http::RunBlocking(pool, [&] { return DispatchAttempt(store, ar, attempt); });
      if (!a.retry_in) co_return ToResponse(a.reply);
      asio::steady_timer wait(co_await asio::this_coro::executor, *a.retry_in);
      beast::error_code ec;
      co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  };
}

}  // namespace metastack::admin
