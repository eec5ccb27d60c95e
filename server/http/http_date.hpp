// The RFC 7231 Date header value, formatted at most once per second per thread.
#pragma once

#include <string_view>

namespace cloudmeta::http_server {

std::string_view http_date_now();

}  // namespace cloudmeta::http_server
