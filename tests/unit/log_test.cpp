#include "cloudmeta/log.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <string>

using cloudmeta::format_log_line;
using cloudmeta::log_text_value;
using cloudmeta::LogFormat;
using cloudmeta::LogLevel;

namespace {

constexpr std::string_view kTs = "2026-11-22T22:00:00.123Z";

// Points stderr at a pipe for its lifetime, so what log_event really writes can be read back.
class StderrCapture {
 public:
  StderrCapture() {
    REQUIRE(pipe(fds_) == 0);
    saved_ = dup(STDERR_FILENO);
    REQUIRE(dup2(fds_[1], STDERR_FILENO) == STDERR_FILENO);
    close(fds_[1]);
    fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  }
  ~StderrCapture() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fds_[0]);
  }
  std::string take() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = read(fds_[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

}  // namespace

TEST_CASE("text format: fixed prefix, then fields in order") {
  CHECK(format_log_line(LogFormat::kText, kTs, LogLevel::kInfo, "request",
                        {{"method", "GET"}, {"status", 200}, {"bytes", std::size_t{12}}}) ==
        "ts=2026-11-22T22:00:00.123Z level=info event=request method=GET status=200 bytes=12\n");
  CHECK(format_log_line(LogFormat::kText, kTs, LogLevel::kWarn, "x", {}) ==
        "ts=2026-11-22T22:00:00.123Z level=warn event=x\n");
  CHECK(format_log_line(LogFormat::kText, kTs, LogLevel::kDebug, "x", {{"n", -5}}) ==
        "ts=2026-11-22T22:00:00.123Z level=debug event=x n=-5\n");
}

TEST_CASE("text values with spaces, quotes, = or control characters are quoted and escaped") {
  CHECK(log_text_value("plain/path-1.2") == "plain/path-1.2");
  CHECK(log_text_value("") == "\"\"");
  CHECK(log_text_value("two words") == "\"two words\"");
  CHECK(log_text_value("a=b") == "\"a=b\"");
  CHECK(log_text_value("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(log_text_value("back\\slash") == "\"back\\\\slash\"");
  CHECK(log_text_value("line\nforged level=error") == "\"line\\nforged level=error\"");
  CHECK(log_text_value("cr\rtab\t") == "\"cr\\rtab\\t\"");
  CHECK(log_text_value(std::string_view("nul\0bel\x07", 8)) == "\"nul\\x00bel\\x07\"");
  CHECK(log_text_value("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 passes through
  const std::string line = format_log_line(LogFormat::kText, kTs, LogLevel::kError, "bad event",
                                           {{"path", "/a b\n"}});
  CHECK(line == "ts=2026-11-22T22:00:00.123Z level=error event=\"bad event\" path=\"/a b\\n\"\n");
}

TEST_CASE("json format: one parseable object per line, same fields") {
  const std::string line =
      format_log_line(LogFormat::kJson, kTs, LogLevel::kInfo, "request",
                      {{"path", "/latest/\"meta\"\n\x01"}, {"status", 404}, {"tab", "\t"}});
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["ts"] == kTs);
  CHECK(j["level"] == "info");
  CHECK(j["event"] == "request");
  CHECK(j["path"] == "/latest/\"meta\"\n\x01");
  CHECK(j["status"] == 404);
  CHECK(j["tab"] == "\t");
  CHECK(line.rfind("{\"ts\":\"2026-11-22T22:00:00.123Z\",\"level\":\"info\",\"event\":", 0) == 0);
}

TEST_CASE("json format keeps valid UTF-8 and replaces invalid bytes") {
  const std::string line = format_log_line(
      LogFormat::kJson, kTs, LogLevel::kInfo, "e",
      {{"ok", "caf\xc3\xa9 \xf0\x9f\x98\x80"}, {"bad", "a\xff" "b\xc3"}, {"over", "\xc0\xaf"}});
  const auto j = nlohmann::json::parse(line);  // throws on invalid UTF-8
  CHECK(j["ok"] == "caf\xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(j["bad"] == "a\xef\xbf\xbd" "b\xef\xbf\xbd");
  CHECK(j["over"] == "\xef\xbf\xbd\xef\xbf\xbd");
}

TEST_CASE("level filter and the real write to stderr") {
  StderrCapture capture;
  cloudmeta::log_configure(LogLevel::kWarn, LogFormat::kText);
  CHECK_FALSE(cloudmeta::log_enabled(LogLevel::kDebug));
  CHECK_FALSE(cloudmeta::log_enabled(LogLevel::kInfo));
  CHECK(cloudmeta::log_enabled(LogLevel::kWarn));
  CHECK(cloudmeta::log_enabled(LogLevel::kError));
  cloudmeta::log_info("hidden");
  cloudmeta::log_warn("shown", {{"k", "v w"}});
  std::string text = capture.take();
  CHECK(text.find("hidden") == std::string::npos);
  REQUIRE(text.rfind("ts=", 0) == 0);
  // ts=YYYY-MM-DDTHH:MM:SS.mmmZ
  CHECK(text.size() > 27);
  CHECK(text.substr(3, 24).find('T') == 10);
  CHECK(text.substr(26, 1) == "Z");
  CHECK(text.substr(27) == " level=warn event=shown k=\"v w\"\n");

  cloudmeta::log_configure(LogLevel::kDebug, LogFormat::kJson);
  cloudmeta::log_debug("now json", {{"n", 1}});
  const auto j = nlohmann::json::parse(capture.take());
  CHECK(j["event"] == "now json");
  CHECK(j["level"] == "debug");
  CHECK(j["n"] == 1);

  cloudmeta::log_configure(LogLevel::kInfo, LogFormat::kText);
}
