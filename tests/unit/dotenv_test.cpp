#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "cloudmeta/config.hpp"

using cloudmeta::ConfigError;
using cloudmeta::parse_dotenv;

namespace {

std::string error_of(std::string_view text) {
  try {
    parse_dotenv(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("plain assignments, export, comments and blank lines") {
  const auto v = parse_dotenv(
      "# a comment\n"
      "\n"
      "PORT=8080\n"
      "   \n"
      "export LOG_LEVEL=debug\n"
      "  BIND = 127.0.0.1   # trailing comment\n"
      "EMPTY=\n"
      "URL=http://host/path#fragment\n"
      "SPACED=two words  \n"
      "_under_score9=x\n");
  const std::map<std::string, std::string> expected = {
      {"PORT", "8080"},     {"LOG_LEVEL", "debug"},
      {"BIND", "127.0.0.1"}, {"EMPTY", ""},
      {"URL", "http://host/path#fragment"}, {"SPACED", "two words"},
      {"_under_score9", "x"}};
  CHECK(v == expected);
}

TEST_CASE("double quotes: escapes, # and = kept, trailing comment allowed") {
  const auto v = parse_dotenv(
      "A=\"line one\\nline two\"\n"
      "B=\"tab\\there \\\"quoted\\\" back\\\\slash\"\n"
      "C=\"has # hash and = sign\"  # comment\n"
      "D=\"unknown \\q escape\"\n"
      "E=\"\"\n");
  CHECK(v.at("A") == "line one\nline two");
  CHECK(v.at("B") == "tab\there \"quoted\" back\\slash");
  CHECK(v.at("C") == "has # hash and = sign");
  CHECK(v.at("D") == "unknown \\q escape");
  CHECK(v.at("E").empty());
}

TEST_CASE("single quotes are literal") {
  const auto v = parse_dotenv("A='no \\n escape $HOME \"x\"'\nB=''\n");
  CHECK(v.at("A") == "no \\n escape $HOME \"x\"");
  CHECK(v.at("B").empty());
}

TEST_CASE("CRLF line endings, no final newline, and the last duplicate wins") {
  const auto v = parse_dotenv("A=1\r\nB='two'\r\nA=3");
  CHECK(v.at("A") == "3");
  CHECK(v.at("B") == "two");
  CHECK(v.size() == 2);
}

TEST_CASE("`export` is only a prefix when a space follows") {
  const auto v = parse_dotenv("exported=1\nexport=2\n");
  CHECK(v.at("exported") == "1");
  CHECK(v.at("export") == "2");
}

TEST_CASE("malformed lines name their line number") {
  CHECK(error_of("A=1\nthis is not an assignment\n") == "line 2: expected KEY=VALUE");
  CHECK(error_of("\n\n=value\n") == "line 3: expected KEY=VALUE");
  CHECK(error_of("1ABC=x") == "line 1: expected KEY=VALUE");
  CHECK(error_of("A-B=x") == "line 1: expected KEY=VALUE");
  CHECK(error_of("A=1\nB=\"open\n") == "line 2: unterminated double quote");
  CHECK(error_of("B='open") == "line 1: unterminated single quote");
  CHECK(error_of("B=\"x\" y") == "line 1: unexpected text after the closing quote");
  CHECK(error_of("export\n") == "line 1: expected KEY=VALUE");
}

TEST_CASE("environment_with_dotenv: the environment wins over the file") {
  char dir_template[] = "/tmp/cloudmeta-dotenv-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/.env";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("CLOUDMETA_TEST_FROM_FILE=file\nCLOUDMETA_TEST_BOTH=file\n", f);
    std::fclose(f);
  }
  setenv("CLOUDMETA_TEST_BOTH", "environment", 1);
  const auto lookup = cloudmeta::environment_with_dotenv(path);
  CHECK(lookup("CLOUDMETA_TEST_FROM_FILE") == "file");
  CHECK(lookup("CLOUDMETA_TEST_BOTH") == "environment");
  CHECK_FALSE(lookup("CLOUDMETA_TEST_NOWHERE").has_value());
  unsetenv("CLOUDMETA_TEST_BOTH");

  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("OK=1\nnot valid\n", f);
    std::fclose(f);
  }
  try {
    cloudmeta::environment_with_dotenv(path);
    FAIL("a malformed .env must throw");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == path + ": line 2: expected KEY=VALUE");
  }
  std::remove(path.c_str());
  rmdir(dir_template);

  // A missing file is no error: the environment alone applies.
  CHECK_FALSE(cloudmeta::environment_with_dotenv(path)("CLOUDMETA_TEST_FROM_FILE").has_value());
}
