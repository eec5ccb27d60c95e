// aws_pretty_json: JSON as EC2's IMDS prints it. AWS uses Jackson's DefaultPrettyPrinter:
// objects break lines with a 2-space indent per object level and `"key" : value`; arrays stay on
// one line as `[ a, b ]` and do not add a level; empty containers print as `{ }` and `[ ]`.
#include "metadata/aws_json.hpp"

namespace cloudmeta {
namespace {

// Printable ASCII without '"' or '\\' needs no escaping: the common case, and the one worth
// sparing nlohmann's serializer (render() prints these documents for every record at start-up).
bool is_plain(std::string_view s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

void append_string(std::string_view s, std::string& out) {
  if (is_plain(s)) {
    out += '"';
    out += s;
    out += '"';
    return;
  }
  // Invalid UTF-8 in a record must not make rendering throw; U+FFFD is what Jackson would send.
  out += nlohmann::ordered_json(s).dump(-1, ' ', false,
                                        nlohmann::ordered_json::error_handler_t::replace);
}

void append_scalar(const nlohmann::ordered_json& value, std::string& out) {
  if (value.is_string()) {
    append_string(value.get_ref<const std::string&>(), out);
  } else if (value.is_null()) {
    out += "null";
  } else {
    out += value.dump();
  }
}

void append_indent(int depth, std::string& out) {
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

void append_value(const nlohmann::ordered_json& value, int depth, std::string& out) {
  if (value.is_object()) {
    if (value.empty()) {
      out += "{ }";
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& [key, child] : value.items()) {
      out += first ? "\n" : ",\n";
      first = false;
      append_indent(depth + 1, out);
      append_string(key, out);
      out += " : ";
      append_value(child, depth + 1, out);
    }
    out += '\n';
    append_indent(depth, out);
    out += '}';
  } else if (value.is_array()) {
    if (value.empty()) {
      out += "[ ]";
      return;
    }
    out += "[ ";
    bool first = true;
    for (const auto& child : value) {
      if (!first) out += ", ";
      first = false;
      append_value(child, depth, out);
    }
    out += " ]";
  } else {
    append_scalar(value, out);
  }
}

}  // namespace

std::string aws_pretty_json(const nlohmann::ordered_json& value) {
  std::string out;
  out.reserve(256);
  append_value(value, 0, out);
  return out;
}

}  // namespace cloudmeta
