// Store: where records, superusers, API tokens and settings live. Two implementations share this
// contract: SqliteStore (default) and, later, PostgresStore. Not thread-safe by design: a Store is
// used from one thread only (the admin thread, see docs/architecture.md). Every statement is
// prepared. Throws StoreError; its message never contains SQL, secrets or user-data.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta {

class StoreError : public std::runtime_error {
 public:
  enum class Kind { kConflict, kNotFound, kUnavailable, kCorrupt, kInvalid };
  StoreError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct User {
  std::int64_t id = 0;
  std::string username;
  std::string email;
  std::string password_hash;  // Argon2id, libsodium's crypto_pwhash_str format
  std::string created_at;
};

struct ApiToken {
  std::int64_t id = 0;
  std::string name;
  std::string token_hash;  // hex SHA-256 of the token; the token itself is never stored
  std::string prefix;      // first characters of the token, to recognise it in a listing
  std::string created_at;
  std::string last_used_at;  // empty when never used
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies the migrations in schema/ that are not yet applied, in order, each in a transaction.
  // Returns the schema version afterwards.
  virtual int migrate() = 0;
  virtual int schema_version() = 0;

  // Instances. Writes set created_at/updated_at and bump revision() in the same transaction.
  virtual std::vector<InstanceRecord> list_instances() = 0;
  virtual std::optional<InstanceRecord> find_instance(std::string_view instance_id) = 0;
  virtual std::optional<InstanceRecord> find_instance_by_ip(std::string_view ip) = 0;
  // kConflict (message names "instance_id" or "ip") when either is taken.
  virtual InstanceRecord insert_instance(const InstanceRecord& record) = 0;
  // Replaces the row with record.instance_id, keeping created_at. kNotFound, kConflict (ip).
  virtual InstanceRecord update_instance(const InstanceRecord& record) = 0;
  virtual bool delete_instance(std::string_view instance_id) = 0;
  // A counter that grows by exactly one per instance write (insert, update, delete), from this
  // process or another one, so a writer can tell whether only its own write happened since.
  virtual std::int64_t revision() = 0;

  // Superusers. kConflict when the username exists.
  virtual User create_user(const User& user) = 0;
  virtual std::optional<User> find_user(std::string_view username) = 0;
  virtual std::vector<User> list_users() = 0;
  virtual bool set_password_hash(std::string_view username, std::string_view password_hash) = 0;

  // API tokens (hashes only). kConflict when the name exists.
  virtual ApiToken create_api_token(const ApiToken& token) = 0;
  virtual std::vector<ApiToken> list_api_tokens() = 0;
  virtual std::optional<ApiToken> find_api_token_by_hash(std::string_view token_hash) = 0;
  virtual bool revoke_api_token(std::string_view name) = 0;
  virtual void touch_api_token(std::int64_t id) = 0;

  // Settings: small named values (the generated SECRET_KEY). Inserts `value` unless the key
  // exists, and returns the stored value either way, so concurrent starters agree on one.
  virtual std::string get_or_create_setting(std::string_view key, std::string_view value) = 0;
  virtual std::optional<std::string> get_setting(std::string_view key) = 0;
};

// Opens the store named by a DATABASE_URL value ("" -> ./cloudmeta.db). Throws StoreError
// (kInvalid for an unsupported or malformed URL).
std::unique_ptr<Store> open_store(const std::string& database_url);

}  // namespace cloudmeta
