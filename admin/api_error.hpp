// ApiError: a request the admin API refuses for a reason of its own (routing, content type, body
// shape, conflicts it detects first). Thrown by route handlers and turned into a JSON error
// response by AdminApi::handle, which also maps ValidationError and StoreError.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cloudmeta/asio.hpp"

namespace cloudmeta::admin {

class ApiError : public std::runtime_error {
 public:
  ApiError(http::status status, const std::string& message, std::string field = {},
           std::string allow = {}, std::int64_t retry_after = 0)
      : std::runtime_error(message),
        status_(status),
        field_(std::move(field)),
        allow_(std::move(allow)),
        retry_after_(retry_after) {}

  http::status status() const { return status_; }
  const std::string& field() const { return field_; }  // empty: no single field at fault
  const std::string& allow() const { return allow_; }  // for 405: the Allow header
  std::int64_t retry_after() const { return retry_after_; }  // > 0: Retry-After seconds

 private:
  http::status status_;
  std::string field_;
  std::string allow_;
  std::int64_t retry_after_;
};

}  // namespace cloudmeta::admin
