// Reads one HTTP/1.1 response with a Content-Length from a socket into a fixed per-connection
// buffer: the minimum a load generator needs (status, body, whether the server will close), at
// the cost of a few memchr/memcmp, so that the client spends its core sending load, not parsing.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <string_view>

#include <boost/asio.hpp>

namespace cloudmeta::bench {

namespace net = boost::asio;

struct HttpResponse {
  int status = 0;
  std::string_view body;  // valid until the next read on this reader
  bool close = false;     // the server said Connection: close
};

class ResponseReader {
 public:
  // Returns false on an I/O error, an early close or a response this reader cannot frame.
  net::awaitable<bool> read(net::ip::tcp::socket& socket, HttpResponse& out) {
    discard_consumed();
    std::size_t head_end = 0;
    for (;;) {
      if (auto end = find_head_end(); end != std::string_view::npos) {
        head_end = end;
        break;
      }
      if (!co_await fill(socket)) co_return false;
    }
    std::size_t content_length = 0;
    if (!parse_head(std::string_view(buffer_.data(), head_end), out, content_length)) {
      co_return false;
    }
    const std::size_t total = head_end + 4 + content_length;
    if (total > buffer_.size()) co_return false;
    while (used_ < total) {
      if (!co_await fill(socket)) co_return false;
    }
    out.body = std::string_view(buffer_.data() + head_end + 4, content_length);
    consumed_ = total;
    co_return true;
  }

  void reset() { used_ = consumed_ = 0; }

 private:
  void discard_consumed() {
    if (consumed_ == 0) return;
    std::memmove(buffer_.data(), buffer_.data() + consumed_, used_ - consumed_);
    used_ -= consumed_;
    consumed_ = 0;
  }

  std::size_t find_head_end() const {
    return std::string_view(buffer_.data(), used_).find("\r\n\r\n");
  }

  net::awaitable<bool> fill(net::ip::tcp::socket& socket) {
    if (used_ == buffer_.size()) co_return false;
    boost::system::error_code ec;
    const std::size_t n = co_await socket.async_read_some(
        net::buffer(buffer_.data() + used_, buffer_.size() - used_),
        net::redirect_error(net::use_awaitable, ec));
    if (ec || n == 0) co_return false;
    used_ += n;
    co_return true;
  }

  static bool iequals_prefix(std::string_view line, std::string_view name) {
    if (line.size() < name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
    }
    return true;
  }

  static std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  }

  static bool parse_head(std::string_view head, HttpResponse& out, std::size_t& length) {
    // "HTTP/1.1 200 OK"
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return false;
    const char* digits = head.data() + 9;
    if (std::from_chars(digits, digits + 3, out.status).ec != std::errc()) return false;
    out.close = head.substr(0, 8) == "HTTP/1.0";
    bool have_length = false;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos) {
      const std::size_t start = pos + 2;
      pos = head.find("\r\n", start);
      const std::string_view line =
          head.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
      if (iequals_prefix(line, "content-length:")) {
        const std::string_view v = trim(line.substr(15));
        if (std::from_chars(v.data(), v.data() + v.size(), length).ec != std::errc()) return false;
        have_length = true;
      } else if (iequals_prefix(line, "connection:")) {
        const std::string_view v = trim(line.substr(11));
        if (v.size() == 5 && iequals_prefix(v, "close")) out.close = true;
        if (v.size() == 10 && iequals_prefix(v, "keep-alive")) out.close = false;
      }
    }
    return have_length;
  }

  std::array<char, 16384> buffer_{};
  std::size_t used_ = 0;
  std::size_t consumed_ = 0;
};

}  // namespace cloudmeta::bench
