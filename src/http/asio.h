#pragma once
// The one way metastack includes Boost.Asio and Beast. Boost 1.74's awaitable.hpp uses
// std::exchange without including <utility>, so it is included first, here, for everyone.
// Boost 1.74 enables co_await for clang only with the Coroutines TS (<experimental/coroutine>,
// __cpp_coroutines); clang >= 16 has C++20 coroutines (<coroutine>, which Boost already selects
// through its __GNUC__ branch), so co_await support is declared here for it (the fuzz build).

#include <utility>

#if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT) && defined(__cpp_impl_coroutine)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace metastack {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
}  // namespace metastack
