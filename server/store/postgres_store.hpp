// PostgresStore: the Store on a PostgreSQL server through libpq, for fleets where many hosts share
// one database. Same tables and meaning as SqliteStore (schema/postgres mirrors schema/sqlite).
// Owns one connection, used from one thread (the Store contract); the admin thread runs one
// statement at a time, so a pool would add nothing here. Every instance write also sends
// NOTIFY cloudmeta_instances with the new revision, in the same transaction, for hosts that LISTEN.
#pragma once

#include <string>

#include "cloudmeta/store.hpp"
#include "pg_connection.hpp"

namespace cloudmeta::store {

class PostgresStore : public Store {
 public:
  // url: postgres:// or postgresql://, passed to libpq as is (sslmode and friends included).
  // Throws StoreError: kInvalid (unparsable URL), kUnavailable (cannot connect).
  explicit PostgresStore(const std::string& url);

  int migrate() override;
  int schema_version() override;

  std::vector<InstanceRecord> list_instances() override;
  std::optional<InstanceRecord> find_instance(std::string_view instance_id) override;
  std::optional<InstanceRecord> find_instance_by_ip(std::string_view ip) override;
  InstanceRecord insert_instance(const InstanceRecord& record) override;
  InstanceRecord update_instance(const InstanceRecord& record) override;
  bool delete_instance(std::string_view instance_id) override;
  std::int64_t revision() override;

  User create_user(const User& user) override;
  std::optional<User> find_user(std::string_view username) override;
  std::vector<User> list_users() override;
  bool set_password_hash(std::string_view username, std::string_view password_hash) override;

  ApiToken create_api_token(const ApiToken& token) override;
  std::vector<ApiToken> list_api_tokens() override;
  std::optional<ApiToken> find_api_token_by_hash(std::string_view token_hash) override;
  bool revoke_api_token(std::string_view name) override;
  void touch_api_token(std::int64_t id) override;

  void create_admin_session(const AdminSession& session, std::int64_t now) override;
  std::optional<AdminSession> find_admin_session(std::string_view id_hash) override;
  bool delete_admin_session(std::string_view id_hash) override;
  AuditEntry append_audit(const AuditEntry& entry) override;
  std::vector<AuditEntry> list_audit(const AuditQuery& query) override;

  std::string get_or_create_setting(std::string_view key, std::string_view value) override;
  std::optional<std::string> get_setting(std::string_view key) override;

 private:
  void bump_revision();
  StoreError instance_conflict(const PgError& e, const InstanceRecord& record);

  PgConnection db_;
};

}  // namespace cloudmeta::store
