// A Postgres array literal of text values ('{"a","b"}'), bound as one parameter ($1::text[]) so
// that a lookup of a thousand keys is one prepared statement, and the values still never enter
// the SQL text. Every element is quoted; inside quotes only '"' and '\' need a backslash
// (PostgreSQL manual, "Array Value Input").
#pragma once

#include <string>
#include <vector>

namespace cloudmeta::store {

inline std::string pg_text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const auto& value : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace cloudmeta::store
