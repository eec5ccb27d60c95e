// The bodies of the `cloudmeta` subcommands other than serve, apart from argument parsing (cli.cpp)
// so that each reads as what it does to the store. They throw UsageError (exit 2), CommandError
// or StoreError (exit 1); cli.cpp turns each into one line on stderr. Every change they make is
// audited (the admin API's audit log) in the transaction that makes it.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/cli_errors.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/store.hpp"

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

// The audit entry of a change made from the command line (actor "cli:<login name>", peer
// "local"), appended inside that change's Store::transaction so that both commit or neither.
// `after` describes the change and holds no secret. Throws StoreError.
void append_cli_audit(Store& store, std::string_view action, const nlohmann::json& after);

void migrate(const Config& config, std::ostream& out);
void create_superuser(const Config& config, const Config::Lookup& env,
                      const SuperuserRequest& request, std::ostream& out, std::ostream& err);
void change_password(const Config& config, const Config::Lookup& env,
                     const SuperuserRequest& request, std::ostream& out, std::ostream& err);
void create_token(const Config& config, const std::string& name, std::ostream& out);
void list_tokens(const Config& config, std::ostream& out);
void revoke_token(const Config& config, const std::string& name, std::ostream& out);
// The certificates that verify identity documents' signatures (PEM; `name`: dsa, rsa or rsa2048,
// "" for all three, each after a line naming it); makes and stores the keys if none are yet.
void print_identity_certificates(const Config& config, const std::string& name, std::ostream& out);
// A new key set in the database; the previous certificates stay published for overlap_hours.
// Refused when the keys come from IDENTITY_KEY_FILE. Audited.
void rotate_identity_keys(const Config& config, std::int64_t overlap_hours, std::ostream& out);

}  // namespace cloudmeta::cli
