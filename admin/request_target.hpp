// Splits an admin request target into its path and its URL-decoded query parameters.
// Pure functions; thread-safe. Throws ApiError (400) on malformed percent-encoding.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cloudmeta::admin {

struct RequestTarget {
  std::string path;  // still percent-encoded: segments are decoded one by one by the router
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order, repeats kept
};

RequestTarget parse_target(std::string_view target);

// Decodes %XX escapes; with plus_is_space (query strings, form encoding) '+' becomes ' '.
std::string percent_decode(std::string_view text, bool plus_is_space);

}  // namespace cloudmeta::admin
