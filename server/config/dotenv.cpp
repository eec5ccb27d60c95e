// parse_dotenv: the .env dialect shared by foreman, honcho, docker compose and python-dotenv, minus
// variable expansion and multi-line values (which those disagree on).
#include "cloudmeta/config.hpp"

namespace cloudmeta {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }
bool is_key_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_key_char(char c) { return is_key_start(c) || (c >= '0' && c <= '9'); }

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

class LineParser {
 public:
  LineParser(std::string_view line, std::size_t number) : rest_(line), number_(number) {}

  // Returns false for a blank or comment line.
  bool parse(std::string& key, std::string& value) {
    rest_ = trim_left(rest_);
    if (rest_.empty() || rest_.front() == '#') return false;
    if (rest_.starts_with("export") && rest_.size() > 6 && is_space(rest_[6])) {
      rest_ = trim_left(rest_.substr(6));
    }
    key = parse_key();
    rest_ = trim_left(rest_);
    if (rest_.empty() || rest_.front() != '=') fail("expected KEY=VALUE");
    rest_ = trim_left(rest_.substr(1));
    if (!rest_.empty() && rest_.front() == '"') {
      value = parse_double_quoted();
      expect_end();
    } else if (!rest_.empty() && rest_.front() == '\'') {
      value = parse_single_quoted();
      expect_end();
    } else {
      value = parse_bare();
    }
    return true;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError("line " + std::to_string(number_) + ": " + what);
  }

  std::string parse_key() {
    if (rest_.empty() || !is_key_start(rest_.front())) fail("expected KEY=VALUE");
    std::size_t n = 1;
    while (n < rest_.size() && is_key_char(rest_[n])) ++n;
    std::string key(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return key;
  }

  std::string parse_double_quoted() {
    std::string value;
    for (std::size_t i = 1; i < rest_.size(); ++i) {
      const char c = rest_[i];
      if (c == '"') {
        rest_.remove_prefix(i + 1);
        return value;
      }
      if (c == '\\' && i + 1 < rest_.size()) {
        const char next = rest_[++i];
        switch (next) {
          case 'n': value += '\n'; break;
          case 'r': value += '\r'; break;
          case 't': value += '\t'; break;
          case '"': value += '"'; break;
          case '\\': value += '\\'; break;
          default:  // unknown escapes stay as written, like python-dotenv
            value += '\\';
            value += next;
        }
        continue;
      }
      value += c;
    }
    fail("unterminated double quote");
  }

  std::string parse_single_quoted() {
    const auto close = rest_.find('\'', 1);
    if (close == std::string_view::npos) fail("unterminated single quote");
    std::string value(rest_.substr(1, close - 1));
    rest_.remove_prefix(close + 1);
    return value;
  }

  // Unquoted: up to a ` #` comment, surrounding blanks dropped. A `#` inside a word stays, so
  // URLs with fragments survive.
  std::string parse_bare() {
    std::size_t end = rest_.size();
    for (std::size_t i = 1; i < rest_.size(); ++i) {
      if (rest_[i] == '#' && is_space(rest_[i - 1])) {
        end = i;
        break;
      }
    }
    if (!rest_.empty() && rest_.front() == '#') end = 0;
    return std::string(trim_right(rest_.substr(0, end)));
  }

  void expect_end() {
    rest_ = trim_left(rest_);
    if (!rest_.empty() && rest_.front() != '#') fail("unexpected text after the closing quote");
  }

  std::string_view rest_;
  std::size_t number_;
};

}  // namespace

std::map<std::string, std::string> parse_dotenv(std::string_view text) {
  std::map<std::string, std::string> values;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string key, value;
    if (LineParser(line, number).parse(key, value)) values[key] = std::move(value);
  }
  return values;
}

}  // namespace cloudmeta
