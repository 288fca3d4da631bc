#pragma once
// The one way metastack includes Boost.Asio and Beast. Boost 1.74's awaitable.hpp uses
// std::exchange without including <utility>, so it is included first, here, for everyone.

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace metastack {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
}  // namespace metastack
