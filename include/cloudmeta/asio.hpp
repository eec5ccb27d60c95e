// The one include of Boost.Asio/Beast for the project, with the namespace aliases used everywhere.
// Boost 1.81 (libboost1.81-dev): header-only Beast/Asio; see docs/dependencies.md for why 1.81.
#pragma once

#include <utility>  // Asio's awaitable.hpp uses std::exchange without including it.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace cloudmeta {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
}  // namespace cloudmeta
