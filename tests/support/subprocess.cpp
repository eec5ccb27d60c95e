#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace cloudmeta::testing {
namespace {

using Clock = std::chrono::steady_clock;

// argv and envp are built before fork(): between fork and exec the child may only make
// async-signal-safe calls, and the test process has other threads.
struct ExecImage {
  std::vector<std::string> strings;
  std::vector<char*> argv;
  std::vector<char*> envp;

  ExecImage(const std::vector<std::string>& args, const Environment& env) {
    Environment full = env;
    if (!full.count("PATH")) {
      const char* path = std::getenv("PATH");
      full["PATH"] = path ? path : "/usr/bin:/bin";
    }
    // The sanitizer builds' options (scripts/check-deep.sh) reach the servers and commands the
    // tests start: they configure the runtime, not cloudmeta, so they cannot change a result.
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
      const char* value = std::getenv(name);
      if (value && !full.count(name)) full[name] = value;
    }
    strings.reserve(args.size() + full.size());
    for (const auto& a : args) strings.push_back(a);
    for (const auto& [k, v] : full) strings.push_back(k + "=" + v);
    for (std::size_t i = 0; i < args.size(); ++i) argv.push_back(strings[i].data());
    argv.push_back(nullptr);
    for (std::size_t i = args.size(); i < strings.size(); ++i) envp.push_back(strings[i].data());
    envp.push_back(nullptr);
  }
};

[[noreturn]] void child_exec(const ExecImage& image, const std::filesystem::path& workdir,
                             int out_fd, int err_fd) {
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
    ::_exit(126);
  }
  if (::chdir(workdir.c_str()) != 0) ::_exit(126);
  ::execve(image.argv[0], image.argv.data(), image.envp.data());
  ::_exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void drain(int fd, std::string& into, bool& open) {
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    into.append(buf, static_cast<std::size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    open = false;
  }
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& args, const Environment& env,
                          const std::filesystem::path& workdir, std::chrono::milliseconds timeout) {
  const ExecImage image(args, env);
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::system_error(errno, std::generic_category());
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) child_exec(image, workdir, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  CommandResult result;
  bool out_open = true;
  bool err_open = true;
  const auto deadline = Clock::now() + timeout;
  while ((out_open || err_open) && Clock::now() < deadline) {
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(left.count(), 1))) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) drain(out_pipe[0], result.out, out_open);
    if (fds[1].revents) drain(err_pipe[0], result.err, err_open);
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  result.exit_code = wait_for_exit(pid, std::max(left, std::chrono::milliseconds(1)));
  if (result.exit_code == -1) {
    ::kill(pid, SIGKILL);
    wait_for_exit(pid, std::chrono::seconds(10));
    throw std::runtime_error("command timed out: " + args.front() + "\nstderr: " + result.err);
  }
  return result;
}

pid_t spawn_logged(const std::vector<std::string>& args, const Environment& env,
                   const std::filesystem::path& workdir, const std::filesystem::path& log_path) {
  const ExecImage image(args, env);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw std::system_error(errno, std::generic_category(), log_path.string());
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::system_error(errno, std::generic_category(), "fork");
  }
  if (pid == 0) child_exec(image, workdir, log_fd, log_fd);
  ::close(log_fd);
  return pid;
}

int wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_status(status);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

}  // namespace cloudmeta::testing
