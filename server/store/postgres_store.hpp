// PostgresStore: the Store on a PostgreSQL server through libpq, for fleets where many hosts share
// one database. Same tables and meaning as SqliteStore (schema/postgres mirrors schema/sqlite).
// Thread-safe: each call leases a connection from a PgPool (DATABASE_POOL_SIZE) for its length,
// so the admin thread and the sync thread (snapshot rebuilds) run statements side by side; a
// transaction() keeps one lease for its whole length, and the calls its body makes on the same
// thread run on that connection. Every transaction that writes instances also sends NOTIFY
// cloudmeta_instances with its revision, once, for hosts that LISTEN.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/store.hpp"
#include "pg_connection.hpp"
#include "pg_pool.hpp"

namespace cloudmeta::store {

class PostgresStore : public Store {
 public:
  // url: postgres:// or postgresql://, passed to libpq as is (sslmode and friends included).
  // Opens the pool's first connection at once, so a wrong URL or password fails here. Throws
  // StoreError: kInvalid (unparsable URL), kUnavailable (cannot connect).
  PostgresStore(const std::string& url, const StoreOptions& options);

  int migrate() override;
  int schema_version() override;

  std::vector<InstanceRecord> list_instances() override;
  std::int64_t scan_instances(const std::function<void(StoredInstance&&)>& visit) override;
  std::size_t instance_count_hint() override;
  std::optional<InstanceRecord> find_instance(std::string_view instance_id) override;
  std::vector<InstanceKey> list_instance_keys(const InstanceKeysQuery& query) override;
  InstanceCount count_instances(const InstanceFilter& filter, std::size_t at_most) override;
  InstanceTotal instance_total() override;
  std::optional<InstanceRecord> find_instance_by_ip(std::string_view ip) override;
  std::vector<InstanceRecord> find_instances(const std::vector<std::string>& ids) override;
  std::vector<std::pair<std::string, std::string>> holders_of(
      const std::vector<std::string>& ips) override;
  InstanceRecord insert_instance(const InstanceRecord& record) override;
  InstanceRecord update_instance(const InstanceRecord& record) override;
  void write_instances(const std::vector<InstanceRecord>& records) override;
  void update_planner_statistics() override;
  bool delete_instance(std::string_view instance_id) override;
  std::int64_t revision() override;
  InstanceChanges instance_changes_since(std::int64_t since, std::size_t limit) override;
  std::size_t prune_instance_changes(std::int64_t before_unix_s, std::size_t limit) override;
  void transaction(const std::function<void()>& body) override;

  User create_user(const User& user) override;
  std::optional<User> find_user(std::string_view username) override;
  std::vector<User> list_users() override;
  bool set_password_hash(std::string_view username, std::string_view password_hash) override;

  ApiToken create_api_token(const ApiToken& token) override;
  std::vector<ApiToken> list_api_tokens() override;
  std::optional<ApiToken> find_api_token_by_hash(std::string_view token_hash) override;
  bool revoke_api_token(std::string_view name) override;
  void touch_api_token(std::int64_t id, std::string_view at) override;

  void create_admin_session(const AdminSession& session, std::int64_t now) override;
  std::optional<AdminSession> find_admin_session(std::string_view id_hash) override;
  bool delete_admin_session(std::string_view id_hash) override;
  std::size_t delete_admin_sessions_of(std::string_view username,
                                       std::string_view keep) override;
  AuditEntry append_audit(const AuditEntry& entry) override;
  std::vector<AuditEntry> list_audit(const AuditQuery& query) override;

  std::string get_or_create_setting(std::string_view key, std::string_view value) override;
  std::optional<std::string> get_setting(std::string_view key) override;
  bool replace_setting(std::string_view key, std::string_view expected,
                       std::string_view value) override;

 private:
  class Connection;
  // The calling thread's open transaction's connection on this store, else a new lease.
  Connection connection();
  std::optional<std::string> read_setting(PgConnection& db, std::string_view key);
  std::optional<InstanceRecord> instance_by_ip(PgConnection& db, std::string_view ip);
  StoreError instance_conflict(PgConnection& db, const PgError& e, const InstanceRecord& record);

  PgPool pool_;
};

}  // namespace cloudmeta::store
