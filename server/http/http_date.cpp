#include "http/http_date.hpp"

#include <ctime>

namespace cloudmeta::http_server {

std::string_view http_date_now() {
  thread_local std::time_t cached_second = 0;
  thread_local char text[40];
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {text, length};
}

}  // namespace cloudmeta::http_server
