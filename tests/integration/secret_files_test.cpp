// Files that hold secrets are owner-only from the moment they exist, under the usual umask 022:
// the SQLite database (IAM secrets, credential hashes) with its -wal and -shm files, and
// `cloudmeta export --output` (created 0600 by open() itself, which strace shows: a chmod after
// a default-mode create leaves a moment in which another user can open the file).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "deployment.hpp"

using namespace cloudmeta::testing;

namespace {

// Sets the process umask (which children inherit) for one test.
class Umask {
 public:
  explicit Umask(mode_t mask) : previous_(::umask(mask)) {}
  ~Umask() { ::umask(previous_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t previous_;
};

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, path.string());
  return st.st_mode & 07777;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("secret files: a new SQLite database and its -wal and -shm files are 0600") {
  Umask umask(022);
  Deployment d;  // `token create` makes the database
  const auto db = d.dir() / "cloudmeta.db";
  CHECK(mode_of(db) == 0600);
  d.start();  // a server holds the database open in WAL mode
  d.create_instance(instance_record("i-0123456789abcde20", "127.0.0.80"));
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::filesystem::path file = db.string() + suffix;
    CAPTURE(file);
    REQUIRE(std::filesystem::exists(file));
    CHECK(mode_of(file) == 0600);
  }
  CHECK(d.stop() == 0);

  // An existing database keeps the mode its owner gave it.
  std::filesystem::permissions(db, std::filesystem::perms(0640));
  CHECK(d.cli({"migrate"}).exit_code == 0);
  CHECK(mode_of(db) == 0640);
}

TEST_CASE("secret files: export --output creates the file 0600 in the open() call") {
  Umask umask(022);
  Deployment d;
  d.start();
  d.create_instance(instance_record("i-0123456789abcde21", "127.0.0.81"));
  CHECK(d.stop() == 0);

  const auto output = d.dir() / "export.jsonl";
  const auto trace = d.dir() / "strace.txt";
  Environment env = d.environment();
  // LeakSanitizer (the ASan build) refuses to run under ptrace; the leak check is the other
  // tests' job.
  const char* asan = std::getenv("ASAN_OPTIONS");
  env["ASAN_OPTIONS"] = std::string(asan ? asan : "") + ":detect_leaks=0";
  const CommandResult r = run_command(
      {"/usr/bin/strace", "-f", "-qq", "-e", "trace=openat,open,creat,chmod,fchmod,fchmodat",
       "-o", trace.string(), cloudmeta_binary().string(), "export", "--output", output.string()},
      env, d.dir());
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(mode_of(output) == 0600);
  CHECK(read_all(output).find("i-0123456789abcde21") != std::string::npos);

  // The one call that creates the file says 0600; nothing changes its mode afterwards.
  std::istringstream lines(read_all(trace));
  int creates = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(output.string()) == std::string::npos) continue;
    CAPTURE(line);
    CHECK(line.find("chmod") == std::string::npos);
    if (line.find("O_CREAT") != std::string::npos) {
      ++creates;
      CHECK(line.find(", 0600)") != std::string::npos);
    }
  }
  CHECK(creates == 1);

  // An existing file that others could read is narrowed before the secrets go in.
  std::ofstream(output) << "old\n";
  std::filesystem::permissions(output, std::filesystem::perms(0644));
  REQUIRE(d.cli({"export", "--output", output.string()}).exit_code == 0);
  CHECK(mode_of(output) == 0600);
  CHECK(read_all(output).find("old") == std::string::npos);
}
