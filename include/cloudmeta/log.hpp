// Levelled, one-line-per-event logging to stderr, as `text` (key=value) or `json`.
// Each line is written with a single write(2) so lines from different threads never interleave.
// log_enabled() is one relaxed atomic load: cheap enough to call per metadata request.
// Callers redact at the source: never pass a password, token, SECRET_KEY, user-data or IAM secret.
// Thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace cloudmeta {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

struct LogField {
  std::string_view key;
  std::variant<std::string_view, std::int64_t> value;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, unsigned v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, std::size_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
};

void log_configure(LogLevel level, LogFormat format);
bool log_enabled(LogLevel level);
void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

// The line log_event would write for these values, newline included (exposed for tests). Text:
// `ts=... level=info event=e key=value`, values with spaces, quotes, `=` or control characters
// quoted and escaped. Json: one object, invalid UTF-8 replaced by U+FFFD.
std::string format_log_line(LogFormat format, std::string_view timestamp, LogLevel level,
                            std::string_view event, std::initializer_list<LogField> fields);
// A value as the text format writes it: bare when safe, else double-quoted with escapes.
std::string log_text_value(std::string_view value);
std::string_view log_level_name(LogLevel level);  // "debug", "info", "warn", "error"

inline void log_debug(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kDebug, e, f);
}
inline void log_info(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kInfo, e, f);
}
inline void log_warn(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kWarn, e, f);
}
inline void log_error(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kError, e, f);
}

}  // namespace cloudmeta
