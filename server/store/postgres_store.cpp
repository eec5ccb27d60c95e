#include "postgres_store.hpp"

#include <exception>
#include <string>

#include "cloudmeta/record_json.hpp"
#include "pg_migrator.hpp"

namespace cloudmeta::store {
namespace {

using Kind = StoreError::Kind;

// Timestamps come from the database's clock, the one clock every host of a fleet shares; now() is
// the transaction's start, so an insert's created_at and updated_at are equal.
#define CLOUDMETA_PG_NOW "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

constexpr const char* kInstanceColumns = "SELECT doc, created_at, updated_at FROM instances";

InstanceRecord record_from_row(const PgRows& rows, int row) {
  InstanceRecord record;
  try {
    record = record_from_json(nlohmann::json::parse(rows.text(row, 0)));
  } catch (const std::exception&) {
    // The parser's message could quote the document (user-data, IAM secrets): not passed on.
    throw StoreError(Kind::kCorrupt, "an instances row does not hold a valid record");
  }
  record.created_at = rows.text(row, 1);
  record.updated_at = rows.text(row, 2);
  return record;
}

std::vector<InstanceRecord> records_from(const PgRows& rows) {
  std::vector<InstanceRecord> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(record_from_row(rows, i));
  return out;
}

std::string document_of(const InstanceRecord& record) {
  return record_to_json(record, /*include_secrets=*/true).dump();
}

// A 23505 on the instances table names the column at fault, as SqliteStore does: the admin API
// turns it into {"field": "instance_id"} or {"field": "ip"}.
[[noreturn]] void throw_instance_conflict(const PgError& e, const InstanceRecord& record) {
  if (e.constraint() == "instances_ip_key") {
    throw StoreError(Kind::kConflict, "ip " + record.ip + " is already used by another instance");
  }
  throw StoreError(Kind::kConflict, "instance_id " + record.instance_id + " already exists");
}

User user_from_row(const PgRows& rows, int row) {
  return User{rows.integer(row, 0), rows.text(row, 1), rows.text(row, 2), rows.text(row, 3),
              rows.text(row, 4)};
}

ApiToken token_from_row(const PgRows& rows, int row) {
  return ApiToken{rows.integer(row, 0), rows.text(row, 1), rows.text(row, 2),
                  rows.text(row, 3),    rows.text(row, 4), rows.text(row, 5)};
}

constexpr const char* kUserColumns =
    "SELECT id, username, email, password_hash, created_at FROM users";
constexpr const char* kTokenColumns =
    "SELECT id, name, token_hash, prefix, created_at, COALESCE(last_used_at, '') FROM api_tokens";

}  // namespace

PostgresStore::PostgresStore(const std::string& url) : db_(url) {}

int PostgresStore::migrate() { return pg_migrate(db_); }

int PostgresStore::schema_version() { return pg_schema_version(db_); }

// ---- instances ----

std::vector<InstanceRecord> PostgresStore::list_instances() {
  return records_from(db_.exec((std::string(kInstanceColumns) + " ORDER BY instance_id").c_str()));
}

std::optional<InstanceRecord> PostgresStore::find_instance(std::string_view instance_id) {
  auto rows =
      db_.exec((std::string(kInstanceColumns) + " WHERE instance_id = $1").c_str(), {instance_id});
  if (rows.empty()) return std::nullopt;
  return record_from_row(rows, 0);
}

std::optional<InstanceRecord> PostgresStore::find_instance_by_ip(std::string_view ip) {
  auto rows = db_.exec((std::string(kInstanceColumns) + " WHERE ip = $1").c_str(), {ip});
  if (rows.empty()) return std::nullopt;
  return record_from_row(rows, 0);
}

// The single-row UPDATE serialises concurrent writers from every host (its row lock is held to
// COMMIT), so the counter grows by exactly one per committed write, and the NOTIFY is delivered
// only if the write commits.
void PostgresStore::bump_revision() {
  db_.exec(
      "WITH bumped AS (UPDATE store_revision SET revision = revision + 1 WHERE id = 1"
      " RETURNING revision)"
      " SELECT pg_notify('cloudmeta_instances', revision::text) FROM bumped");
}

InstanceRecord PostgresStore::insert_instance(const InstanceRecord& record) {
  PgTransaction tx(db_);
  InstanceRecord stored = record;
  try {
    auto rows = db_.exec(
        "INSERT INTO instances (instance_id, ip, doc, created_at, updated_at)"
        " VALUES ($1, $2, $3, " CLOUDMETA_PG_NOW ", " CLOUDMETA_PG_NOW
        ")"
        " RETURNING created_at, updated_at",
        {record.instance_id, record.ip, document_of(record)});
    stored.created_at = rows.text(0, 0);
    stored.updated_at = rows.text(0, 1);
  } catch (const PgError& e) {
    if (e.kind() == Kind::kConflict) throw_instance_conflict(e, record);
    throw;
  }
  bump_revision();
  tx.commit();
  return stored;
}

InstanceRecord PostgresStore::update_instance(const InstanceRecord& record) {
  PgTransaction tx(db_);
  InstanceRecord stored = record;
  try {
    auto rows = db_.exec("UPDATE instances SET ip = $2, doc = $3, updated_at = " CLOUDMETA_PG_NOW
                         " WHERE instance_id = $1 RETURNING created_at, updated_at",
                         {record.instance_id, record.ip, document_of(record)});
    if (rows.empty()) {
      throw StoreError(Kind::kNotFound, "instance " + record.instance_id + " not found");
    }
    stored.created_at = rows.text(0, 0);
    stored.updated_at = rows.text(0, 1);
  } catch (const PgError& e) {
    if (e.kind() == Kind::kConflict) throw_instance_conflict(e, record);
    throw;
  }
  bump_revision();
  tx.commit();
  return stored;
}

bool PostgresStore::delete_instance(std::string_view instance_id) {
  PgTransaction tx(db_);
  if (db_.exec("DELETE FROM instances WHERE instance_id = $1 RETURNING 1", {instance_id}).empty()) {
    return false;  // nothing written, so the revision stays
  }
  bump_revision();
  tx.commit();
  return true;
}

std::int64_t PostgresStore::revision() {
  return db_.exec("SELECT revision FROM store_revision WHERE id = 1").integer(0, 0);
}

// ---- users ----

User PostgresStore::create_user(const User& user) {
  try {
    auto rows = db_.exec(
        "INSERT INTO users (username, email, password_hash, created_at)"
        " VALUES ($1, $2, $3, " CLOUDMETA_PG_NOW ") RETURNING id, created_at",
        {user.username, user.email, user.password_hash});
    User stored = user;
    stored.id = rows.integer(0, 0);
    stored.created_at = rows.text(0, 1);
    return stored;
  } catch (const PgError& e) {
    if (e.kind() != Kind::kConflict) throw;
    throw StoreError(Kind::kConflict, "username " + user.username + " already exists");
  }
}

std::optional<User> PostgresStore::find_user(std::string_view username) {
  auto rows = db_.exec((std::string(kUserColumns) + " WHERE username = $1").c_str(), {username});
  if (rows.empty()) return std::nullopt;
  return user_from_row(rows, 0);
}

std::vector<User> PostgresStore::list_users() {
  auto rows = db_.exec((std::string(kUserColumns) + " ORDER BY username").c_str());
  std::vector<User> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(user_from_row(rows, i));
  return out;
}

bool PostgresStore::set_password_hash(std::string_view username, std::string_view password_hash) {
  return !db_.exec("UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING 1",
                   {username, password_hash})
              .empty();
}

// ---- API tokens ----

ApiToken PostgresStore::create_api_token(const ApiToken& token) {
  try {
    auto rows = db_.exec(
        "INSERT INTO api_tokens (name, token_hash, prefix, created_at)"
        " VALUES ($1, $2, $3, " CLOUDMETA_PG_NOW ") RETURNING id, created_at",
        {token.name, token.token_hash, token.prefix});
    ApiToken stored = token;
    stored.id = rows.integer(0, 0);
    stored.created_at = rows.text(0, 1);
    stored.last_used_at.clear();
    return stored;
  } catch (const PgError& e) {
    if (e.kind() != Kind::kConflict) throw;
    // A clash of token_hash would mean a repeated random token: reported as the name's conflict
    // would mislead, so it is named for what it is, without the hash.
    if (e.constraint() == "api_tokens_token_hash_key") {
      throw StoreError(Kind::kConflict, "an API token with the same hash already exists");
    }
    throw StoreError(Kind::kConflict, "API token name " + token.name + " already exists");
  }
}

std::vector<ApiToken> PostgresStore::list_api_tokens() {
  auto rows = db_.exec((std::string(kTokenColumns) + " ORDER BY name").c_str());
  std::vector<ApiToken> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(token_from_row(rows, i));
  return out;
}

std::optional<ApiToken> PostgresStore::find_api_token_by_hash(std::string_view token_hash) {
  auto rows =
      db_.exec((std::string(kTokenColumns) + " WHERE token_hash = $1").c_str(), {token_hash});
  if (rows.empty()) return std::nullopt;
  return token_from_row(rows, 0);
}

bool PostgresStore::revoke_api_token(std::string_view name) {
  return !db_.exec("DELETE FROM api_tokens WHERE name = $1 RETURNING 1", {name}).empty();
}

void PostgresStore::touch_api_token(std::int64_t id) {
  db_.exec("UPDATE api_tokens SET last_used_at = " CLOUDMETA_PG_NOW " WHERE id = $1::bigint",
           {std::to_string(id)});
}

// ---- settings ----

// Two statements on purpose: a concurrent starter's INSERT makes ours wait for its commit and then
// do nothing, and the following SELECT (a new snapshot under READ COMMITTED) sees its row. A single
// INSERT ... RETURNING / SELECT statement could see neither row.
std::string PostgresStore::get_or_create_setting(std::string_view key, std::string_view value) {
  db_.exec("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
           {key, value});
  auto stored = get_setting(key);
  if (!stored) throw StoreError(Kind::kCorrupt, "setting vanished right after it was written");
  return *stored;
}

std::optional<std::string> PostgresStore::get_setting(std::string_view key) {
  auto rows = db_.exec("SELECT value FROM settings WHERE key = $1", {key});
  if (rows.empty()) return std::nullopt;
  return rows.text(0, 0);
}

}  // namespace cloudmeta::store
