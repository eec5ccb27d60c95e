// The bodies of the `cloudmeta` subcommands other than serve, apart from argument parsing (cli.cpp)
// so that each reads as what it does to the store. They throw UsageError (exit 2), CommandError
// or StoreError (exit 1); cli.cpp turns each into one line on stderr.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include "cli/cli_errors.hpp"
#include "cloudmeta/config.hpp"

namespace cloudmeta::cli {

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
