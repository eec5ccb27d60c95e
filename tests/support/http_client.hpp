// A small blocking HTTP/1.1 client over POSIX sockets, for tests that must control the bytes on
// the wire: the source address (127.0.0.x identifies the VM), raw or malformed requests,
// pipelining, half-sent requests, and watching whether the server closes the connection.
// Every read has a deadline, so a server that hangs fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cloudmeta::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  HttpRequest(std::string verb, std::string path, Headers fields = {}, std::string content = {})
      : method(std::move(verb)),
        target(std::move(path)),
        headers(std::move(fields)),
        body(std::move(content)) {}

  std::string method;
  std::string target;
  Headers headers;   // sent as given; Host is added unless present
  std::string body;  // Content-Length is added when non-empty and not given
};

// The request as bytes on the wire.
std::string to_wire(const HttpRequest& request);

struct HttpResponse {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  Headers headers;
  std::string body;

  // The first header called `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
  // Every header called `name`, in order.
  std::vector<std::string> all(std::string_view name) const;
};

inline constexpr std::chrono::milliseconds kReadTimeout{10'000};

class HttpConnection {
 public:
  // Connects to 127.0.0.1:`port` from `source` (bound before connect: any 127.0.0.0/8 address
  // works on Linux loopback without configuration). Throws std::system_error on failure.
  explicit HttpConnection(std::uint16_t port, const std::string& source = "127.0.0.1");
  ~HttpConnection();
  HttpConnection(HttpConnection&& other) noexcept;
  HttpConnection& operator=(HttpConnection&&) = delete;
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends every byte; throws std::system_error when the peer has gone.
  void send(std::string_view bytes);

  // Reads one response. `head_request`: the response to HEAD has no body whatever its
  // Content-Length says. Throws std::runtime_error if the connection closes before a whole
  // response arrives or `timeout` passes.
  HttpResponse read_response(bool head_request = false,
                             std::chrono::milliseconds timeout = kReadTimeout);

  // send(to_wire(request)) + read_response.
  HttpResponse request(const HttpRequest& request);

  // Reads until the server closes the connection (orderly close or reset) and returns what it
  // sent, including any bytes buffered but not yet consumed; nullopt if still open at `timeout`.
  std::optional<std::string> read_until_closed(std::chrono::milliseconds timeout = kReadTimeout);

  // Closes our side now.
  void close();

 private:
  // Appends what arrives to buffer_; false on close/reset or when `deadline` passes.
  enum class Fill { kData, kClosed, kTimeout };
  Fill fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buffer_;
};

// One request on its own connection from `source`.
HttpResponse http_call(std::uint16_t port, const HttpRequest& request,
                       const std::string& source = "127.0.0.1");

}  // namespace cloudmeta::testing
