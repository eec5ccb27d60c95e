// The one parse of JSON that comes from outside the process: admin API bodies and `cloudmeta
// import` lines. The nesting limit (json_depth.hpp) is checked on the bytes first, so no recursive
// step (merge_patch, dump, the record's checks) ever sees input deeper than kMaxJsonDepth.
// Thread-safe. Throws JsonInputError.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cloudmeta {

// The input was refused; what() says why, for the client: "nested deeper than 64 levels (at byte
// N)" or the parser's message ("syntax error while parsing value - ...").
class JsonInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

nlohmann::json parse_json_input(std::string_view text);

}  // namespace cloudmeta
