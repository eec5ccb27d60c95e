#include "http/imds_reader.hpp"

namespace cloudmeta::http_server {

ImdsConnection::ImdsConnection(tcp::socket socket, std::shared_ptr<DeadlineSweeper> sweeper)
    : socket_(std::move(socket)), watched_(std::move(sweeper), socket_), now_(Clock::now()) {}

void ImdsConnection::expires_after(std::chrono::milliseconds timeout) {
  now_ = Clock::now();
  watched_.set_deadline(now_ + timeout);
}

namespace {

ReadResult classify(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return ReadResult::kHeaderTooLarge;
  if (ec == http::error::body_limit) return ReadResult::kBodyTooLarge;
  if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return ReadResult::kBadRequest;
  }
  return ReadResult::kClosed;
}

}  // namespace

ImdsRequestRead::ImdsRequestRead(ImdsConnection& connection, ImdsParser& parser,
                                 const Limits& limits, bool first_request)
    : connection_(connection), parser_(parser), limits_(limits), first_request_(first_request) {
  parser_.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  parser_.body_limit(limits.body_limit);
  parser_.eager(true);
}

std::optional<ReadResult> ImdsRequestRead::advance(beast::flat_buffer& buffer) {
  while (buffer.size() > 0) {
    if (!begun_) {
      // The whole request, once begun, within the read timeout (a dripping client cannot
      // stretch it by sending a byte at a time).
      begun_ = true;
      connection_.set_idle(false);
      connection_.expires_after(limits_.read_timeout);
    }
    beast::error_code ec;
    const std::size_t used = parser_.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec && ec != http::error::need_more) return classify(ec);
    if (parser_.is_done()) return ReadResult::kRequest;
    if (ec || used == 0) break;  // the parser needs more bytes than the buffer holds
  }
  if (!begun_) {
    // Waiting for a request's first byte: the idle timeout between keep-alive requests.
    connection_.set_idle(true);
    connection_.expires_after(first_request_ ? limits_.read_timeout : limits_.idle_timeout);
  }
  if (room(buffer) == 0) return ReadResult::kBadRequest;  // as http::error::buffer_overflow did
  return std::nullopt;
}

ReadResult ImdsRequestRead::on_read_error(const beast::error_code& error) {
  if (error == net::error::eof && begun_) {
    beast::error_code ec;
    parser_.put_eof(ec);
    if (!ec && parser_.is_done()) return ReadResult::kRequest;
  }
  return ReadResult::kClosed;
}

}  // namespace cloudmeta::http_server
