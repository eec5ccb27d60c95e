// The bodies of the `cloudmeta` subcommands other than serve, apart from argument parsing (cli.cpp)
// so that each reads as what it does to the store. They throw UsageError (exit 2), CommandError
// or StoreError (exit 1); cli.cpp turns each into one line on stderr.
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cloudmeta/config.hpp"

namespace cloudmeta::cli {

// A bad value or missing input the user can fix by changing the command line: exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The command was understood but cannot be done (duplicate user, unknown token): exit 1.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Django's rules: 1..150 characters of letters, digits and @.+-_ .
void validate_username(std::string_view username);
void validate_email(std::string_view email);
// 1..100 characters of letters, digits and @.+-_ , so `token list` stays one word per column.
void validate_token_name(std::string_view name);

struct SuperuserRequest {
  std::string username;
  std::string email;
  bool noinput = false;
};

void migrate(const Config& config, std::ostream& out);
void create_superuser(const Config& config, const Config::Lookup& env,
                      const SuperuserRequest& request, std::ostream& out, std::ostream& err);
void change_password(const Config& config, const Config::Lookup& env,
                     const SuperuserRequest& request, std::ostream& out, std::ostream& err);
void create_token(const Config& config, const std::string& name, std::ostream& out);
void list_tokens(const Config& config, std::ostream& out);
void revoke_token(const Config& config, const std::string& name, std::ostream& out);

}  // namespace cloudmeta::cli
