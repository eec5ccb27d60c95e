// The command line as scripts use it: exit codes (0 / 1 / 2), one `cloudmeta: error:` line on
// stderr for usage and configuration errors, the token alone on the last line of stdout, and a
// clean exit 0 on SIGTERM.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "deployment.hpp"

using namespace cloudmeta::testing;

namespace {

// One line on stderr, in the documented form.
void check_one_error_line(const CommandResult& r) {
  const auto lines = split_lines(r.err);
  REQUIRE_MESSAGE(lines.size() == 1, "stderr: ", r.err);
  CHECK(lines.front().rfind("cloudmeta: error: ", 0) == 0);
}

CommandResult run(const TempDir& dir, const std::vector<std::string>& args,
                  const Environment& env = {}) {
  std::vector<std::string> argv = {cloudmeta_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, dir.path());
}

}  // namespace

TEST_CASE("cli: --help exits 0 and names the commands") {
  TempDir dir;
  const CommandResult r = run(dir, {"--help"});
  CHECK(r.exit_code == 0);
  for (const char* command : {"serve", "migrate", "createsuperuser", "token"}) {
    CHECK_MESSAGE(r.out.find(command) != std::string::npos, command);
  }
  const CommandResult serve_help = run(dir, {"serve", "--help"});
  CHECK(serve_help.exit_code == 0);
  CHECK(serve_help.out.find("IMDS_READ_TIMEOUT_MS") != std::string::npos);
}

TEST_CASE("cli: an unknown flag or command exits 2 with one line on stderr") {
  TempDir dir;
  const CommandResult flag = run(dir, {"--no-such-flag"});
  CHECK(flag.exit_code == 2);
  check_one_error_line(flag);
  const CommandResult serve_flag = run(dir, {"serve", "--no-such-flag"});
  CHECK(serve_flag.exit_code == 2);
  check_one_error_line(serve_flag);
  const CommandResult command = run(dir, {"no-such-command"});
  CHECK(command.exit_code == 2);
  check_one_error_line(command);
}

TEST_CASE("cli: a bad environment value exits 2 with one line naming it") {
  TempDir dir;
  const std::string db = "sqlite://" + (dir / "cloudmeta.db").string();
  const CommandResult port = run(dir, {"serve"}, {{"PORT", "abc"}, {"DATABASE_URL", db}});
  CHECK(port.exit_code == 2);
  check_one_error_line(port);
  CHECK(port.err.find("PORT") != std::string::npos);

  const CommandResult timeout = run(
      dir, {"serve"},
      {{"IMDS_READ_TIMEOUT_MS", "-5"}, {"DATABASE_URL", db}, {"PORT", "0"}, {"ADMIN_PORT", "0"}});
  CHECK(timeout.exit_code == 2);
  check_one_error_line(timeout);
  CHECK(timeout.err.find("IMDS_READ_TIMEOUT_MS") != std::string::npos);
  // Refused before anything was done: no database file was created.
  CHECK_FALSE(std::filesystem::exists(dir / "cloudmeta.db"));
}

TEST_CASE("cli: a malformed .env in the working directory exits 2") {
  TempDir dir;
  {
    std::ofstream env(dir / ".env");
    env << "PORT=0\nthis line is not KEY=VALUE\n";
  }
  const CommandResult r = run(dir, {"migrate"});
  CHECK(r.exit_code == 2);
  check_one_error_line(r);
}

TEST_CASE("cli: migrate reports the schema version and is idempotent") {
  TempDir dir;
  const Environment env = {{"DATABASE_URL", "sqlite://" + (dir / "m.db").string()}};
  const CommandResult first = run(dir, {"migrate"}, env);
  CHECK(first.exit_code == 0);
  CHECK(first.out.find("schema at version") != std::string::npos);
  const CommandResult second = run(dir, {"migrate"}, env);
  CHECK(second.exit_code == 0);
  CHECK(second.out == first.out);
}

TEST_CASE("cli: token create prints the token alone on the last line and it works as Bearer") {
  Deployment d;
  const CommandResult made = d.cli({"token", "create", "--name", "ci-robot"});
  REQUIRE(made.exit_code == 0);
  const auto lines = split_lines(made.out);
  REQUIRE(lines.size() >= 2);
  const std::string token = lines.back();
  CHECK(token.find(' ') == std::string::npos);
  CHECK(token.rfind("cm_", 0) == 0);

  // The same name again is a failure (1), not a usage error.
  const CommandResult again = d.cli({"token", "create", "--name", "ci-robot"});
  CHECK(again.exit_code == 1);
  check_one_error_line(again);

  d.start();
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Authorization", "Bearer " + token}}).status ==
        200);
  const CommandResult revoked = d.cli({"token", "revoke", "--name", "ci-robot"});
  CHECK(revoked.exit_code == 0);
  CHECK(d.admin("GET", "/api/v1/instances", {}, {{"Authorization", "Bearer " + token}}).status ==
        401);
  CHECK(d.stop() == 0);
}

TEST_CASE("cli: createsuperuser --noinput takes the password from the environment") {
  Deployment d;
  const CommandResult ok = d.cli({"createsuperuser", "--username", "root", "--noinput"},
                                 {{"CLOUDMETA_SUPERUSER_PASSWORD", "long enough password"}});
  CHECK(ok.exit_code == 0);
  const CommandResult duplicate = d.cli({"createsuperuser", "--username", "root", "--noinput"},
                                        {{"CLOUDMETA_SUPERUSER_PASSWORD", "long enough password"}});
  CHECK(duplicate.exit_code == 1);
  check_one_error_line(duplicate);
  const CommandResult missing = d.cli({"createsuperuser", "--username", "other", "--noinput"});
  CHECK(missing.exit_code != 0);
  check_one_error_line(missing);
}

TEST_CASE("cli: serve exits 0 on SIGTERM and 1 when its port is taken") {
  Deployment d;
  ServerProcess& first = d.start();
  CHECK(first.running());
  const auto taken = std::to_string(first.admin_port());

  // ADMIN_PORT of the running server: the second cannot bind and must say so with status 1.
  Environment env = d.environment();
  env["ADMIN_PORT"] = taken;
  std::vector<std::string> argv = {cloudmeta_binary().string(), "serve"};
  const CommandResult second = run_command(argv, env, d.dir());
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("bind") != std::string::npos);

  CHECK(d.stop() == 0);
}
