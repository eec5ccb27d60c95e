#include "cli/cli_commands.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <vector>

#include "cloudmeta/api_tokens.hpp"
#include "cloudmeta/identity_signing.hpp"
#include "cloudmeta/passwords.hpp"
#include "cloudmeta/store.hpp"
#include "cli/password_prompt.hpp"

namespace cloudmeta::cli {
namespace {

bool is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '@' || c == '.' || c == '+' || c == '-' || c == '_';
}

void validate_name(std::string_view what, std::string_view name, std::size_t max) {
  if (name.empty() || name.size() > max || !std::all_of(name.begin(), name.end(), is_name_char)) {
    throw UsageError(std::string(what) + ": expected 1.." + std::to_string(max) +
                     " letters, digits or @.+-_");
  }
}

// The admin commands work on a fresh database too, so nobody has to remember `migrate` first;
// migrations are idempotent and each runs in its own transaction.
std::unique_ptr<Store> open_migrated_store(const Config& config) {
  auto store = open_store(config.database_url);
  store->migrate();
  return store;
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

void append_cli_audit(Store& store, std::string_view action, const nlohmann::json& after) {
  AuditEntry entry;
  const passwd* account = getpwuid(geteuid());
  entry.actor = "cli:" + (account ? std::string(account->pw_name) : std::to_string(geteuid()));
  entry.peer = "local";
  entry.action = action;
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& [key, value] : after.items()) fields.push_back(key);
  entry.fields = fields.dump();
  entry.after = after.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  store.append_audit(entry);
}

namespace {

}  // namespace

void validate_username(std::string_view username) { validate_name("--username", username, 150); }

void validate_token_name(std::string_view name) { validate_name("--name", name, 100); }

void validate_email(std::string_view email) {
  const auto at = email.find('@');
  const bool ok = email.size() <= 254 && at != std::string_view::npos && at > 0 &&
                  at + 1 < email.size() &&
                  std::none_of(email.begin(), email.end(), [](char c) {
                    return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
                  });
  if (!ok) throw UsageError("--email: expected an address like name@example.com");
}

void migrate(const Config& config, std::ostream& out) {
  auto store = open_store(config.database_url);
  out << "schema at version " << store->migrate() << "\n";
}

void create_superuser(const Config& config, const Config::Lookup& env,
                      const SuperuserRequest& request, std::ostream& out, std::ostream& err) {
  validate_username(request.username);
  if (!request.email.empty()) validate_email(request.email);
  auto store = open_migrated_store(config);
  // Asked before the password, so nobody types one for a name that is taken.
  if (store->find_user(request.username)) {
    throw CommandError("user " + in_quotes(request.username) + " already exists");
  }
  User user;
  user.username = request.username;
  user.email = request.email;
  user.password_hash = hash_password(read_new_password(env, request.noinput, err));
  store->transaction([&] {
    User stored;
    try {
      stored = store->create_user(user);
    } catch (const StoreError& e) {
      if (e.kind() != StoreError::Kind::kConflict) throw;
      throw CommandError("user " + in_quotes(request.username) + " already exists");
    }
    append_cli_audit(*store, "user.create",
                     {{"username", stored.username},
                      {"email", stored.email},
                      {"created_at", stored.created_at}});
  });
  out << "Superuser " << in_quotes(request.username) << " created.\n";
}

void change_password(const Config& config, const Config::Lookup& env,
                     const SuperuserRequest& request, std::ostream& out, std::ostream& err) {
  validate_username(request.username);
  auto store = open_migrated_store(config);
  if (!store->find_user(request.username)) {
    throw CommandError("no user named " + in_quotes(request.username));
  }
  const std::string hash = hash_password(read_new_password(env, request.noinput, err));
  // Every session of the admin page that user had ends with the old password.
  std::size_t ended = 0;
  store->transaction([&] {
    if (!store->set_password_hash(request.username, hash)) {
      throw CommandError("no user named " + in_quotes(request.username));
    }
    ended = store->delete_admin_sessions_of(request.username, "");
    append_cli_audit(*store, "user.password",
                     {{"username", request.username}, {"sessions_ended", ended}});
  });
  out << "Password changed for " << in_quotes(request.username) << ".";
  if (ended > 0) out << " Ended " << ended << " admin page session(s).";
  out << "\n";
}

void create_token(const Config& config, const std::string& name, std::ostream& out) {
  validate_token_name(name);
  auto store = open_migrated_store(config);
  const NewApiToken token = generate_api_token();
  ApiToken row;
  row.name = name;
  row.token_hash = token.hash;
  row.prefix = token.prefix;
  store->transaction([&] {
    ApiToken stored;
    try {
      stored = store->create_api_token(row);
    } catch (const StoreError& e) {
      if (e.kind() != StoreError::Kind::kConflict) throw;
      throw CommandError("an API token named " + in_quotes(name) + " already exists");
    }
    append_cli_audit(*store, "token.create", {{"name", name}, {"prefix", stored.prefix}});
  });
  // Scripts take the last line (`| tail -n1`); keep the token alone on it.
  out << "Created API token " << in_quotes(name) << ". It is shown only now; use it as\n"
      << "`Authorization: Bearer <token>` on the admin API:\n"
      << token.token << "\n";
}

void list_tokens(const Config& config, std::ostream& out) {
  auto store = open_migrated_store(config);
  const std::vector<ApiToken> tokens = store->list_api_tokens();
  const std::vector<std::string> header = {"NAME", "PREFIX", "CREATED", "LAST USED"};
  std::vector<std::vector<std::string>> rows;
  for (const ApiToken& t : tokens) {
    rows.push_back({t.name, t.prefix, t.created_at,
                    t.last_used_at.empty() ? std::string("never") : t.last_used_at});
  }
  std::vector<std::size_t> widths;
  for (const auto& h : header) widths.push_back(h.size());
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  const auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

void revoke_token(const Config& config, const std::string& name, std::ostream& out) {
  auto store = open_migrated_store(config);
  store->transaction([&] {
    if (!store->revoke_api_token(name)) {
      throw CommandError("no API token named " + in_quotes(name));
    }
    append_cli_audit(*store, "token.revoke", {{"name", name}});
  });
  out << "Revoked API token " << in_quotes(name) << ".\n";
}

void print_identity_certificates(const Config& config, const std::string& name,
                                 std::ostream& out) {
  if (!name.empty() && name != "dsa" && name != "rsa" && name != "rsa2048") {
    throw UsageError("--name: must be dsa, rsa or rsa2048");
  }
  auto store = open_migrated_store(config);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  for (const IdentityCertificate& certificate :
       resolve_signing_keys(config, *store)->certificates(now)) {
    if (!name.empty() && certificate.name != name) continue;
    out << describe_certificate(certificate) << certificate.pem;
  }
}

void rotate_identity_keys(const Config& config, std::int64_t overlap_hours, std::ostream& out) {
  if (!config.identity_key_file.empty()) {
    throw CommandError(
        "the identity keys are IDENTITY_KEY_FILE's: rotate them by replacing the files");
  }
  if (overlap_hours < 0 || overlap_hours > 24 * 366) {
    throw UsageError("--overlap-hours: 0 to 8784");
  }
  auto store = open_migrated_store(config);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  store->transaction([&] {
    rotate_signing_keys(*store, now, overlap_hours * 3600);
    append_cli_audit(*store, "identity.rotate", {{"overlap_hours", overlap_hours}});
  });
  out << "Rotated the identity signing keys; the previous certificates stay published for "
      << overlap_hours << " hours (GET /api/v1/identity/certificates, `cloudmeta identity\n"
      << "certificates`). Give verifiers the new ones, then restart `cloudmeta serve` on every "
         "host:\neach signs with the previous keys until it restarts.\n";
}

}  // namespace cloudmeta::cli
