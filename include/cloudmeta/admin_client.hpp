// A client of the admin surface of a server running with the same settings (ADMIN_BIND,
// ADMIN_PORT; a wildcard address is reached on the loopback address of its family), for the
// commands that talk to it: `healthcheck` and `libvirt-hook`. One HTTP/1.1 request per
// connection. Every exchange of one client ends by one deadline, connecting included: a frozen
// server accepts (the kernel completes the handshake) but never answers, and that must fail the
// caller in bounded time, not hang it. Not thread-safe (one caller).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cloudmeta/config.hpp"

namespace cloudmeta {

// No answer: the connection, the request or the response failed, or the deadline passed. The
// message says which step and why; it never holds the token.
class AdminUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AdminReply {
  unsigned status = 0;
  std::string body;  // at most kMaxAdminReplyBytes
};

inline constexpr std::size_t kMaxAdminReplyBytes = 4 * 1024 * 1024;

class AdminClient {
 public:
  // `bearer_token` "": no Authorization header (/healthz needs none).
  AdminClient(const Config& config, std::chrono::steady_clock::time_point deadline,
              std::string bearer_token = "");

  // `method` GET, PUT, PATCH, POST or DELETE; `json_body` is sent as application/json when not
  // null. Throws AdminUnreachable.
  AdminReply send(std::string_view method, const std::string& target,
                  const std::string* json_body = nullptr);

  std::string address() const;  // "127.0.0.1:8001", for messages

 private:
  std::string host_;
  unsigned short port_;
  std::chrono::steady_clock::time_point deadline_;
  std::string bearer_token_;
};

}  // namespace cloudmeta
