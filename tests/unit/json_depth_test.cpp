// The JSON nesting pre-scan every admin body and import line passes (cloudmeta/json_depth.hpp),
// and the one parse behind it (cloudmeta/json_input.hpp), as pure functions.
#include <doctest/doctest.h>

#include <string>

#include "cloudmeta/json_depth.hpp"
#include "cloudmeta/json_input.hpp"

using cloudmeta::find_excess_nesting;

namespace {

constexpr auto kNone = std::string_view::npos;

std::string nested(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

}  // namespace

TEST_CASE("json depth: counts openers outside strings, and names where the limit is passed") {
  CHECK(find_excess_nesting("", 0) == kNone);
  CHECK(find_excess_nesting("1", 0) == kNone);
  CHECK(find_excess_nesting("{}", 0) == 0);
  CHECK(find_excess_nesting("{}", 1) == kNone);
  CHECK(find_excess_nesting(R"({"a": [1, {"b": []}]})", 4) == kNone);
  CHECK(find_excess_nesting(R"({"a": [1, {"b": []}]})", 3) == 16);
  CHECK(find_excess_nesting(R"({"a": [1, {"b": []}]})", 2) == 10);
  CHECK(find_excess_nesting(nested(64), 64) == kNone);
  CHECK(find_excess_nesting(nested(65), 64) == 64);
  // Siblings do not add up; only nesting does.
  std::string siblings = "[";
  for (int i = 0; i < 1000; ++i) siblings += "[],";
  siblings += "[]]";
  CHECK(find_excess_nesting(siblings, 2) == kNone);
}

TEST_CASE("json depth: brackets inside strings, escaped quotes and stray closers") {
  CHECK(find_excess_nesting(R"(["[[[[{{{{"])", 1) == kNone);
  CHECK(find_excess_nesting(R"(["\"[[[["])", 1) == kNone);
  CHECK(find_excess_nesting(R"(["\\", [[]]])", 2) == 8);  // the string ends after \\ .
  CHECK(find_excess_nesting(R"(["\u005b", []])", 1) == 11);
  CHECK(find_excess_nesting("]]]]}}}}[[", 1) == 9);  // closers never take the depth below 0
  CHECK(find_excess_nesting(R"("unterminated [[[[)", 0) == kNone);
}

TEST_CASE("json input: too deep is refused before parsing, naming the limit") {
  CHECK(cloudmeta::parse_json_input(nested(cloudmeta::kMaxJsonDepth)).is_array());
  try {
    cloudmeta::parse_json_input(nested(100'000));
    FAIL("no exception");
  } catch (const cloudmeta::JsonInputError& e) {
    CHECK(std::string(e.what()) == "nested deeper than 64 levels (at byte 64)");
  }
  CHECK_THROWS_AS(cloudmeta::parse_json_input("{\"a\": "), cloudmeta::JsonInputError);
  CHECK_THROWS_AS(cloudmeta::parse_json_input("[1e999]"), cloudmeta::JsonInputError);
}
