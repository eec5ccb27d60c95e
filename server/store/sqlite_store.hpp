// SqliteStore: the Store on one SQLite file (SQLiteCpp), the default backend. WAL journal,
// foreign keys on, synchronous=NORMAL, 5 s busy timeout, so several processes (a second server,
// `cloudmeta migrate`, the CLI) can share the file. Every write runs in a BEGIN IMMEDIATE
// transaction: the write lock is taken up front, so two writers wait for each other instead of
// deadlocking on a read-to-write upgrade. Statements are prepared once and cached; each is reset
// as soon as its rows are read, so no read transaction outlives a call (it would pin the WAL and
// hide other writers' commits). Private to server/store.
// Thread-safe through one mutex around the one connection: SQLite runs one writer at a time
// anyway, and a second, read-only connection for the sync thread's rebuilds would only matter
// for fleets big enough to want Postgres; meanwhile it would bring a second statement cache and
// a second revision cache that must agree with the first. The mutex is recursive because
// transaction() holds it while its body calls the other methods on the same thread.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cloudmeta/store.hpp"
#include "instance_listing_sql.hpp"

namespace cloudmeta::store {

class SqliteStore : public Store {
 public:
  // Opens or creates the file; its directory must exist (kInvalid otherwise). Does not migrate.
  explicit SqliteStore(const std::string& path);

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
  // The cached statement for `sql` (one of the file's constants), reset and unbound.
  SQLite::Statement& statement(const char* sql);
  // Rows of `sql`, whose one parameter (if any) is `key`.
  std::vector<InstanceRecord> query_instances(const char* sql,
                                              const std::optional<std::string>& key);
  std::optional<std::string> instance_owning_ip(const std::string& ip);
  void refuse_taken_mac(const InstanceRecord& r);  // kConflict when another instance holds it
  void refuse_shared_macs();                       // before migration 0005 (shared_macs.hpp)
  bool instance_exists(const std::string& instance_id);
  // Bumps the revision (once per transaction) and records the change; returns the revision.
  std::int64_t bump_revision();
  std::int64_t log_change(const std::string& instance_id, const std::string& ip_before);
  AuditEntry append_audit_locked(const AuditEntry& entry);
  void wrote_revision(std::int64_t value);

  std::recursive_mutex mutex_;  // held for every call; see the top of this file
  SQLite::Database db_;
  std::map<const char*, std::unique_ptr<SQLite::Statement>> statements_;
  // The admin listing's statements, by text (instance_listing_sql.hpp), reset and bound.
  SQLite::Statement& listing_statement(const SqlStatement& statement);
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> listing_statements_;
  // instance_total() as of revision total_revision_ (-1: not counted yet).
  InstanceTotal total_;
  std::int64_t total_revision_ = -1;
  // revision() reads the table only when PRAGMA data_version says another connection committed
  // since the last read; this connection's own writes update the cache directly.
  std::int64_t revision_ = 0;
  std::int64_t data_version_ = -1;
  bool revision_known_ = false;
  // Identifies the open top-level transaction in instance_revision.bumped_by: moved on by
  // SQLite's commit and rollback hooks at the end of each one.
  std::uint64_t transaction_token_;
};

}  // namespace cloudmeta::store
