// Reads one HTTP request with the surface's limits, for both surfaces. Two clocks, so that a slow
// client cannot hold a slot: waiting for a request's first byte is bounded by the idle timeout
// (the read timeout on a fresh connection), and the whole request, once begun, by the read timeout.
#pragma once

#include <algorithm>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/config.hpp"

namespace cloudmeta::http_server {

enum class ReadResult {
  kRequest,         // a complete request is in the parser
  kClosed,          // the peer closed, reset or timed out: close quietly
  kHeaderTooLarge,  // answer 431, then close
  kBodyTooLarge,    // answer 413, then close
  kBadRequest,      // malformed HTTP: answer 400, then close
};

template <class Body>
net::awaitable<ReadResult> read_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                        http::request_parser<Body>& parser, const Limits& limits,
                                        bool first_request) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  parser.body_limit(limits.body_limit);
  beast::error_code ec;
  if (buffer.size() == 0) {
    stream.expires_after(first_request ? limits.read_timeout : limits.idle_timeout);
    // Never ask the buffer for more than its cap: prepare() throws beyond it.
    const auto room = std::min<std::size_t>(4096, buffer.max_size() - buffer.size());
    auto n = co_await stream.async_read_some(buffer.prepare(room),
                                             net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return ReadResult::kClosed;
    buffer.commit(n);
  }
  stream.expires_after(limits.read_timeout);
  co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  if (!ec) co_return ReadResult::kRequest;
  if (ec == http::error::header_limit) co_return ReadResult::kHeaderTooLarge;
  if (ec == http::error::body_limit) co_return ReadResult::kBodyTooLarge;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    co_return ReadResult::kBadRequest;
  }
  co_return ReadResult::kClosed;
}

}  // namespace cloudmeta::http_server
