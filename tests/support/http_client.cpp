#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace cloudmeta::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

sockaddr_in loopback_address(const std::string& address, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
    throw std::invalid_argument("not an IPv4 address: " + address);
  }
  return sa;
}

// Parses the status line and header block (without the final blank line).
HttpResponse parse_head(std::string_view head) {
  HttpResponse r;
  std::size_t eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, eol);
  const auto sp1 = status_line.find(' ');
  const auto sp2 = status_line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
  if (sp1 == std::string_view::npos) {
    throw std::runtime_error("malformed status line: " + std::string(status_line));
  }
  r.version = status_line.substr(0, sp1);
  r.status = std::stoi(std::string(status_line.substr(sp1 + 1, sp2 - sp1 - 1)));
  if (sp2 != std::string_view::npos) r.reason = status_line.substr(sp2 + 1);
  while (eol != std::string_view::npos) {
    const std::size_t start = eol + 2;
    eol = head.find("\r\n", start);
    const std::string_view line = head.substr(start, eol - start);
    if (line.empty()) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw std::runtime_error("malformed header line: " + std::string(line));
    }
    r.headers.emplace_back(std::string(line.substr(0, colon)),
                           std::string(trim(line.substr(colon + 1))));
  }
  return r;
}

}  // namespace

std::string to_wire(const HttpRequest& request) {
  std::string out = request.method + " " + request.target + " HTTP/1.1\r\n";
  bool has_host = false;
  bool has_length = false;
  for (const auto& [name, value] : request.headers) {
    has_host = has_host || iequals(name, "Host");
    has_length = has_length || iequals(name, "Content-Length");
    out += name + ": " + value + "\r\n";
  }
  if (!has_host) out += "Host: 169.254.169.254\r\n";
  if (!request.body.empty() && !has_length) {
    out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  out += "\r\n";
  out += request.body;
  return out;
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> HttpResponse::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) out.push_back(v);
  }
  return out;
}

HttpConnection::HttpConnection(std::uint16_t port, const std::string& source) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  const sockaddr_in local = loopback_address(source, 0);
  const sockaddr_in remote = loopback_address("127.0.0.1", port);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd_, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(error, std::generic_category(),
                            "connect from " + source + " to port " + std::to_string(port));
  }
}

HttpConnection::~HttpConnection() { close(); }

HttpConnection::HttpConnection(HttpConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

void HttpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void HttpConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "send");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

HttpConnection::Fill HttpConnection::fill(Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Fill::kTimeout;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw std::system_error(errno, std::generic_category(), "poll");
    if (ready == 0) return Fill::kTimeout;
    char buf[16 * 1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<std::size_t>(n));
      return Fill::kData;
    }
    if (n < 0 && errno == EINTR) continue;
    return Fill::kClosed;  // 0 = orderly close; ECONNRESET etc. = reset
  }
}

HttpResponse HttpConnection::read_response(bool head_request, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto need_more = [&](const char* what) {
    const Fill f = fill(deadline);
    if (f == Fill::kData) return;
    throw std::runtime_error(std::string(f == Fill::kClosed ? "connection closed" : "timed out") +
                             " while reading " + what + "; received: " + buffer_);
  };
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) need_more("a response head");
  HttpResponse response = parse_head(std::string_view(buffer_).substr(0, end));
  buffer_.erase(0, end + 4);

  const bool no_body = head_request || response.status == 204 || response.status == 304 ||
                       response.status / 100 == 1;
  const auto length = response.header("Content-Length");
  if (no_body) return response;
  if (length) {
    const std::size_t n = std::stoul(*length);
    while (buffer_.size() < n) need_more("a response body");
    response.body = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return response;
  }
  // No length: the body runs to the end of the connection (RFC 9112 §6.3).
  for (;;) {
    const Fill f = fill(deadline);
    if (f == Fill::kClosed) break;
    if (f == Fill::kTimeout) throw std::runtime_error("timed out reading a body without length");
  }
  response.body = std::move(buffer_);
  buffer_.clear();
  return response;
}

HttpResponse HttpConnection::request(const HttpRequest& request) {
  send(to_wire(request));
  return read_response(request.method == "HEAD");
}

std::optional<std::string> HttpConnection::read_until_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const Fill f = fill(deadline);
    if (f == Fill::kTimeout) return std::nullopt;
    if (f == Fill::kClosed) {
      std::string received = std::move(buffer_);
      buffer_.clear();
      return received;
    }
  }
}

HttpResponse http_call(std::uint16_t port, const HttpRequest& request, const std::string& source) {
  HttpConnection connection(port, source);
  return connection.request(request);
}

}  // namespace cloudmeta::testing
