// The command line's contract with scripts: exit codes, one-line errors, help. Only paths that
// stop before the database is opened live here; tests/store/cli_store_test.cpp has the rest.
#include "cloudmeta/cli.hpp"
#include "cli_runner.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Result = cloudmeta::testing::CliResult;
Result run(std::vector<std::string> args) { return cloudmeta::testing::run_cli_captured(args); }

// A usage error is exactly one `cloudmeta: error:` line on stderr and nothing on stdout.
void check_usage_error(const Result& r, const std::string& fragment) {
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("cloudmeta: error: ", 0) == 0);
  CHECK(r.err.find('\n') == r.err.size() - 1);
  CHECK(r.err.find(fragment) != std::string::npos);
}

}  // namespace

TEST_CASE("help exits 0 and explains every command") {
  const Result r = run({"--help"});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  for (const char* word : {"serve", "migrate", "createsuperuser", "changepassword", "token",
                           "version", "DATABASE_URL", "CLOUDMETA_SUPERUSER_PASSWORD", "Exit"}) {
    CAPTURE(word);
    CHECK(r.out.find(word) != std::string::npos);
  }
}

TEST_CASE("serve --help lists the environment variables") {
  const Result r = run({"serve", "--help"});
  CHECK(r.code == 0);
  for (const char* word : {"PORT", "ADMIN_BIND", "SECRET_KEY", "TRUSTED_PROXIES",
                           "IMDS_MAX_CONNECTIONS_PER_SOURCE", "ADMIN_BODY_LIMIT",
                           "REFRESH_INTERVAL_MS", "default: 8000"}) {
    CAPTURE(word);
    CHECK(r.out.find(word) != std::string::npos);
  }
}

TEST_CASE("each command has its own help") {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"migrate", "--help"}, {"createsuperuser", "--help"},
        {"changepassword", "--help"}, {"token", "--help"}, {"token", "create", "--help"},
        {"token", "list", "--help"}, {"token", "revoke", "--help"}, {"version", "--help"}}) {
    CAPTURE(args.front());
    const Result r = run(args);
    CHECK(r.code == 0);
    CHECK(r.out.find("Usage: cloudmeta " + args.front()) != std::string::npos);
  }
  CHECK(run({"createsuperuser", "--help"}).out.find("--noinput") != std::string::npos);
  CHECK(run({"token", "create", "--help"}).out.find("--name") != std::string::npos);
}

TEST_CASE("version and --version") {
  const Result flag = run({"--version"});
  CHECK(flag.code == 0);
  CHECK(flag.out == std::string("cloudmeta ") + CLOUDMETA_VERSION + "\n");
  const Result command = run({"version"});
  CHECK(command.code == 0);
  CHECK(command.out == flag.out);
}

TEST_CASE("no command: help on stderr, exit 2") {
  const Result r = run({});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find("Usage: cloudmeta") != std::string::npos);
  CHECK(r.err.find("cloudmeta: error: a command is required\n") != std::string::npos);
  const Result token = run({"token"});
  CHECK(token.code == 2);
  CHECK(token.err.find("cloudmeta: error: token: a command is required") != std::string::npos);
}

TEST_CASE("unknown commands, flags and missing options are one-line usage errors") {
  check_usage_error(run({"frobnicate"}), "frobnicate");
  check_usage_error(run({"--bogus"}), "--bogus");
  check_usage_error(run({"serve", "--bogus"}), "--bogus");
  check_usage_error(run({"migrate", "extra"}), "extra");
  check_usage_error(run({"createsuperuser"}), "--username");
  check_usage_error(run({"changepassword", "--noinput"}), "--username");
  check_usage_error(run({"token", "create"}), "--name");
  check_usage_error(run({"token", "revoke"}), "--name");
  check_usage_error(run({"token", "destroy"}), "destroy");
  check_usage_error(run({"createsuperuser", "--username"}), "--username");
}

TEST_CASE("bad values are usage errors before the database is touched") {
  check_usage_error(run({"createsuperuser", "--username", "bad name", "--noinput"}), "--username");
  check_usage_error(run({"createsuperuser", "--username", std::string(151, 'a'), "--noinput"}),
                    "1..150");
  check_usage_error(run({"createsuperuser", "--username", "ok", "--email", "nope", "--noinput"}),
                    "--email");
  check_usage_error(run({"changepassword", "--username", "", "--noinput"}), "--username");
  check_usage_error(run({"token", "create", "--name", "has space"}), "--name");
}

TEST_CASE("a bad environment variable is a one-line usage error naming it") {
  setenv("PORT", "abc", 1);
  const Result r = run({"serve"});
  unsetenv("PORT");
  check_usage_error(r, "PORT: expected an integer 0..65535, got 'abc'");
  CHECK(r.err == "cloudmeta: error: PORT: expected an integer 0..65535, got 'abc'\n");

  setenv("LOG_LEVEL", "chatty", 1);
  check_usage_error(run({"migrate"}), "LOG_LEVEL: expected one of");
  unsetenv("LOG_LEVEL");
}
