#include "cli/password_prompt.hpp"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <optional>

#include "cli/cli_errors.hpp"
#include "cloudmeta/passwords.hpp"

namespace cloudmeta::cli {
namespace {

constexpr int kAttempts = 3;
// Argon2id takes any length; the bound only stops a pasted file from being hashed.
constexpr std::size_t kMaxPasswordLength = 4096;

// Saved for the signal handler: Ctrl-C at the prompt must not leave the terminal without echo.
termios g_saved_termios;
volatile std::sig_atomic_t g_echo_off = 0;

extern "C" void restore_echo_and_die(int signal) {
  if (g_echo_off) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

// Echo off for its lifetime, restored on every way out, including SIGINT/SIGTERM/SIGHUP.
class EchoOff {
 public:
  EchoOff() {
    if (tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    for (int s : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction action {};
      action.sa_handler = restore_echo_and_die;
      sigemptyset(&action.sa_mask);
      sigaction(s, &action, &previous_[index(s)]);
    }
    termios quiet = g_saved_termios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // the newline still echoes, so the next prompt starts a line
    g_echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    active_ = true;
  }
  ~EchoOff() {
    if (!active_) return;
    if (g_echo_off) tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
    g_echo_off = 0;
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &previous_[index(s)], nullptr);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  static int index(int s) { return s == SIGINT ? 0 : s == SIGTERM ? 1 : 2; }
  struct sigaction previous_[3] {};
  bool active_ = false;
};

// One line from standard input, without its newline; nullopt at end of input.
std::optional<std::string> read_line() {
  std::string line;
  for (;;) {
    char c;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (line.empty()) return std::nullopt;
      return line;
    }
    if (c == '\n') return line;
    if (line.size() <= kMaxPasswordLength) line += c;
  }
}

std::optional<std::string> prompt(std::ostream& err, const char* text) {
  err << text << std::flush;
  std::optional<std::string> line;
  {
    EchoOff echo_off;
    line = read_line();
  }
  if (!line) err << "\n";  // end of input (Ctrl-D) leaves the cursor after the prompt
  return line;
}

// Empty when acceptable, else why not.
std::string password_problem(const std::string& password) {
  if (password.size() < kMinPasswordLength) {
    return "must be at least " + std::to_string(kMinPasswordLength) + " characters";
  }
  if (password.size() > kMaxPasswordLength) {
    return "must be at most " + std::to_string(kMaxPasswordLength) + " characters";
  }
  return {};
}

}  // namespace

std::string read_new_password(const Config::Lookup& env, bool noinput, std::ostream& err) {
  if (noinput) {
    auto password = env(kPasswordVariable);
    if (!password || password->empty()) {
      throw UsageError(std::string(kPasswordVariable) + " must be set when --noinput is given");
    }
    if (auto problem = password_problem(*password); !problem.empty()) {
      throw UsageError(std::string(kPasswordVariable) + ": " + problem);
    }
    return *password;
  }
  if (!isatty(STDIN_FILENO)) {
    throw UsageError("standard input is not a terminal: use --noinput and " +
                     std::string(kPasswordVariable));
  }
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto first = prompt(err, "Password: ");
    if (!first) break;
    if (auto problem = password_problem(*first); !problem.empty()) {
      err << "The password " << problem << ".\n";
      continue;
    }
    auto second = prompt(err, "Password (again): ");
    if (!second) break;
    if (*first != *second) {
      err << "The passwords do not match.\n";
      continue;
    }
    return *first;
  }
  throw CommandError("no password given");
}

}  // namespace cloudmeta::cli
