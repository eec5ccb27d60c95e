#include "server_process.hpp"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace cloudmeta::testing {
namespace {

// The value of `key` in a log line of either format: ` key=value` (text) or a member of the
// line's JSON object (LOG_FORMAT=json); "" when absent.
std::string field(const std::string& line, const std::string& key) {
  if (line.starts_with('{')) {
    const auto object = nlohmann::json::parse(line, nullptr, false);
    if (!object.is_object() || !object.contains(key)) return {};
    const auto& value = object[key];
    return value.is_string() ? value.get<std::string>() : value.dump();
  }
  const std::string needle = " " + key + "=";
  const auto at = line.find(needle);
  if (at == std::string::npos) return {};
  const auto start = at + needle.size();
  return line.substr(start, line.find(' ', start) - start);
}

}  // namespace

std::uint16_t listening_port(const std::string& log, const std::string& surface) {
  for (const auto& line : split_lines(log)) {
    if (field(line, "event") != "listening" || field(line, "surface") != surface) continue;
    const std::string port = field(line, "port");
    if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) continue;
    const unsigned long value = std::stoul(port);
    if (value > 0 && value <= 65535) return static_cast<std::uint16_t>(value);
  }
  return 0;
}

ServerProcess::ServerProcess(const std::filesystem::path& binary, const Environment& env,
                             const std::filesystem::path& workdir,
                             const std::filesystem::path& log_path,
                             std::chrono::milliseconds startup_timeout)
    : log_path_(log_path) {
  // A log from an earlier server in the same directory would show stale ports.
  std::filesystem::remove(log_path_);
  pid_ = spawn_logged({binary.string(), "serve"}, env, workdir, log_path_);
  const auto deadline = std::chrono::steady_clock::now() + startup_timeout;
  for (;;) {
    const std::string text = log();
    metadata_port_ = listening_port(text, "metadata");
    admin_port_ = listening_port(text, "admin");
    if (metadata_port_ != 0 && admin_port_ != 0) return;
    if (!running()) {
      throw std::runtime_error("cloudmeta serve exited with " + std::to_string(exit_code_) +
                               " before listening; its log:\n" + log());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      wait_for_exit(pid_, std::chrono::seconds(10));
      pid_ = -1;
      throw std::runtime_error("cloudmeta serve did not listen in time; its log:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    wait_for_exit(pid_, std::chrono::seconds(10));
  }
}

int ServerProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_code_;
  if (!running()) return exit_code_;
  ::kill(pid_, SIGTERM);
  exit_code_ = wait_for_exit(pid_, timeout);
  if (exit_code_ == -1) {
    ::kill(pid_, SIGKILL);
    wait_for_exit(pid_, std::chrono::seconds(10));
  }
  pid_ = -1;
  return exit_code_;
}

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  const int code = wait_for_exit(pid_, std::chrono::milliseconds(0));
  if (code == -1) return true;
  exit_code_ = code;
  pid_ = -1;
  return false;
}

std::string ServerProcess::log() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace cloudmeta::testing
