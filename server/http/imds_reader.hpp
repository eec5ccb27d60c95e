// The metadata surface's connection I/O, built for the per-request cost (docs/benchmarks.md):
//  - ImdsConnection: a plain socket plus a deadline that its thread's DeadlineSweeper enforces.
//    Moving the deadline is a plain store, instead of arming and cancelling a timer around every
//    read and write as beast::tcp_stream does, and there is no timer per connection at all.
//  - ImdsRequestRead: the same contract as read_request (request_reader.hpp: two clocks, 431,
//    413, 400, quiet close) but parsing from the buffer with parser.put() directly, into a
//    parser whose fields live in the connection's FieldsArena: no allocation per request.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/config.hpp"
#include "http/deadline_sweeper.hpp"
#include "http/fields_arena.hpp"
#include "http/request_reader.hpp"

namespace cloudmeta::http_server {

using ImdsParser = http::request_parser<http::string_body, FieldsAllocator<char>>;

// Lives in the session's frame.
class ImdsConnection {
 public:
  using Clock = std::chrono::steady_clock;

  ImdsConnection(tcp::socket socket, std::shared_ptr<DeadlineSweeper> sweeper);

  tcp::socket& socket() { return socket_; }

  // The socket is closed (pending operations fail) if it is still open at now + timeout.
  void expires_after(std::chrono::milliseconds timeout);
  // The clock reading the last expires_after() took. The session times requests with it (from
  // the deadline set at a request's first byte to the one set before its response is written),
  // so metrics and the access log cost no clock read of their own.
  Clock::time_point last_now() const { return now_; }
  void set_idle(bool idle) { watched_.set_idle(idle); }

 private:
  tcp::socket socket_;
  DeadlineSweeper::Watched watched_;
  Clock::time_point now_;
};

// One request's read, driven by the session's own loop (a nested coroutine per request would
// cost a frame allocation per request: Asio recycles only small frames):
//   ImdsRequestRead read(connection, parser, limits, first);
//   while (!(result = read.advance(buffer))) {
//     n = co_await socket.async_read_some(buffer.prepare(read.room(buffer)), ...);
//     if (ec) { result = read.on_read_error(ec); break; }
//     buffer.commit(n);
//   }
class ImdsRequestRead {
 public:
  ImdsRequestRead(ImdsConnection& connection, ImdsParser& parser, const Limits& limits,
                  bool first_request);

  // Parses what `buffer` holds. A result when the request is complete or refused; nullopt when
  // more bytes are needed (the deadline for reading them is already set).
  std::optional<ReadResult> advance(beast::flat_buffer& buffer);
  // How much to read next: never more than the buffer's cap (prepare() throws beyond it).
  static std::size_t room(const beast::flat_buffer& buffer) {
    return std::min<std::size_t>(4096, buffer.max_size() - buffer.size());
  }
  ReadResult on_read_error(const beast::error_code& ec);

 private:
  ImdsConnection& connection_;
  ImdsParser& parser_;
  const Limits& limits_;
  bool first_request_;
  bool begun_ = false;
};

}  // namespace cloudmeta::http_server
