#include "cloudmeta/json_input.hpp"

#include "cloudmeta/json_depth.hpp"

namespace cloudmeta {

namespace {

std::string without_exception_tag(std::string message) {
  // nlohmann prefixes "[json.exception.parse_error.101] ", which means nothing to a client.
  if (!message.empty() && message.front() == '[') {
    if (const auto end = message.find("] "); end != std::string::npos) message.erase(0, end + 2);
  }
  return message;
}

}  // namespace

nlohmann::json parse_json_input(std::string_view text) {
  if (const auto at = find_excess_nesting(text, kMaxJsonDepth); at != std::string_view::npos) {
    throw JsonInputError("nested deeper than " + std::to_string(kMaxJsonDepth) +
                         " levels (at byte " + std::to_string(at) + ")");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw JsonInputError(without_exception_tag(e.what()));
  } catch (const nlohmann::json::out_of_range& e) {
    // A number beyond a double's range ("1e999") is refused by the parser with out_of_range 406
    // rather than a parse_error: bad input all the same.
    throw JsonInputError(without_exception_tag(e.what()));
  }
}

}  // namespace cloudmeta
