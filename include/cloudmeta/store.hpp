// Store: where records, superusers, API tokens and settings live. Two implementations share this
// contract: SqliteStore (default) and PostgresStore (fleet mode). Thread-safe: the admin thread
// and the sync thread (snapshot rebuilds, see docs/architecture.md) call one Store at once.
// Every statement is prepared. Throws StoreError; its message never contains SQL, secrets or
// user-data.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cloudmeta/instance_listing.hpp"
#include "cloudmeta/instance_record.hpp"

namespace cloudmeta {

class StoreError : public std::runtime_error {
 public:
  // kReadOnly: the database answers reads but refuses writes (a read-only or full filesystem,
  // a Postgres standby or default_transaction_read_only); a retry succeeds once it is fixed.
  enum class Kind { kConflict, kNotFound, kUnavailable, kCorrupt, kInvalid, kReadOnly };
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

// A logged-in browser of the admin page (admin/web_session.hpp). id_hash is the hex SHA-256 of
// the random id in the cookie; expires_at is Unix seconds.
struct AdminSession {
  std::string id_hash;
  std::string username;
  std::string peer;
  std::string created_at;
  std::int64_t expires_at = 0;
};

// One change made through the admin surface. fields is a JSON array of the record fields that
// changed; before and after are record_to_json(r, false) documents ("" when there is none).
struct AuditEntry {
  std::int64_t id = 0;     // set by the store, grows with every append
  std::string at;          // RFC 3339 UTC, set by the store
  std::string actor;       // "user:NAME" or "token:NAME"
  std::string peer;        // the client's address
  std::string action;      // instance.create, instance.update, instance.delete, token.create, ...
  std::string instance_id;
  std::string fields = "[]";
  std::string before;
  std::string after;
};

// Filters of list_audit; empty strings do not filter. Newest first; before_id pages backwards.
struct AuditQuery {
  std::string instance_id;
  std::string actor;
  std::string since;           // RFC 3339 UTC: entries at or after it
  std::int64_t before_id = 0;  // > 0: only entries with a smaller id (the next page's cursor)
  int limit = 50;
};

// One instance row as stored, not decoded: views into the store's own buffers, valid only while
// the scan_instances visitor that receives it runs. A snapshot copies rows into blocks of its own
// (cloudmeta/packed_row.hpp) and decodes one only when its instance is first asked for, so
// starting with a million rows neither parses a million documents nor makes five heap strings
// per row (docs/benchmarks.md, "Start-up and memory").
struct StoredInstance {
  std::string_view instance_id;
  std::string_view ip;
  std::string_view doc;  // the JSON document, as written by insert/update_instance
  std::string_view created_at;
  std::string_view updated_at;
  // The record's MAC when its address may be learned (it has none yet, or a learned one:
  // docs/hypervisor.md, "DHCP guests"), else empty. Set by scan_instances from the row's
  // derived columns, so that a reload indexes DHCP guests without decoding every document; not
  // kept in a snapshot's packed rows or its cache file.
  std::string_view learn_mac = {};
};

// An instance row that owns its bytes, for what outlives a call (a change set).
struct StoredRow {
  std::string instance_id;
  std::string ip;
  std::string doc;
  std::string created_at;
  std::string updated_at;
  StoredInstance view() const { return {instance_id, ip, doc, created_at, updated_at}; }
};

// One instance written since a reader's revision: the row as it is now (nullopt: deleted), and
// the address it had at the reader's revision ("" when it did not exist then), which is where
// the reader's snapshot serves it.
struct InstanceChange {
  std::string instance_id;
  std::string ip_before;
  std::optional<StoredRow> row;
};

// What Store::instance_changes_since found.
struct InstanceChanges {
  enum class Status {
    kComplete,  // `changes` holds every instance written after `since` up to `revision`
    kGap,       // the change log does not reach back to `since` (pruned, written around, or the
                // database went back in time): read everything instead
    kTooMany,   // more change rows than the caller's limit: reading everything is as cheap
  };
  Status status = Status::kComplete;
  std::int64_t revision = 0;  // the store's revision, read with the changes
  std::vector<InstanceChange> changes;  // one per instance id, in no particular order
};

// The record a row holds, as list_instances() returns it; StoreError kCorrupt naming the instance
// and the reason when the row is one list_instances() returns flagged invalid: the metadata
// surface has nothing it could serve from it.
InstanceRecord decode(const StoredInstance& row);

class Store {
 public:
  virtual ~Store() = default;

  // Applies the migrations in schema/ that are not yet applied, in order, each in a transaction.
  // Returns the schema version afterwards.
  virtual int migrate() = 0;
  virtual int schema_version() = 0;

  // Instances. Writes set created_at/updated_at, bump revision() and append to the change log
  // (instance_changes_since) in the same transaction.
  // Reads never fail on a row this version cannot decode (hand-edited, or a newer version's
  // value this one refuses): the row comes back with InstanceRecord::invalid set, so it can
  // still be listed, shown, replaced and deleted. Members of a stored document that this
  // version does not know come back in InstanceRecord::unknown_fields, and a write puts the
  // record's unknown_fields back into the document.
  virtual std::vector<InstanceRecord> list_instances() = 0;
  // Every instance row, undecoded and in no particular order, handed over one at a time so that
  // a fleet is never held twice in memory; the row's views die when visit returns. decode()
  // decodes a row. Returns the revision() the rows are at, read in the same view of the
  // database: a snapshot of them is that revision exactly, neither older nor newer.
  virtual std::int64_t scan_instances(const std::function<void(StoredInstance&&)>& visit) = 0;
  // Roughly how many instance rows there are, without reading them: a hint that lets a reload
  // size its index once instead of growing it a million times. Never a table scan, so it may be
  // off: SQLite answers max(rowid) (at least the count; more after deletions), Postgres the
  // planner's estimate (0 before the table was first analysed).
  virtual std::size_t instance_count_hint() = 0;
  virtual std::optional<InstanceRecord> find_instance(std::string_view instance_id) = 0;
  // The admin listing (cloudmeta/instance_listing.hpp): a page of keys in query.sort's order,
  // read through indexes, never the whole table; at most query.limit of them.
  virtual std::vector<InstanceKey> list_instance_keys(const InstanceKeysQuery& query) = 0;
  // How many rows match `filter`, counting no further than at_most (at most that many index
  // entries read per condition), and which of its conditions matches the fewest.
  virtual InstanceCount count_instances(const InstanceFilter& filter, std::size_t at_most) = 0;
  // How many instance rows there are: exact where that is cheap (SQLite: one pass over the
  // smallest index), else the database's estimate (Postgres, beyond 10,000 rows).
  virtual InstanceTotal instance_total() = 0;
  virtual std::optional<InstanceRecord> find_instance_by_ip(std::string_view ip) = 0;
  // Set-based lookups for work on many records (an import): the stored records among `ids`, and
  // (address, instance id) for each of `ips` that an instance holds, in no particular order;
  // absent ones are left out, as are addresses that are not addresses. One statement per call
  // on Postgres, so the cost is the records asked for, not one round trip each; callers pass at
  // most kLookupBatch at a time.
  static constexpr std::size_t kLookupBatch = 1000;
  virtual std::vector<InstanceRecord> find_instances(const std::vector<std::string>& ids) = 0;
  virtual std::vector<std::pair<std::string, std::string>> holders_of(
      const std::vector<std::string>& ips) = 0;
  // kConflict (message names "instance_id" or "ip") when either is taken. kInvalid for a record
  // that breaks a rule of record_json.hpp, or one flagged invalid.
  virtual InstanceRecord insert_instance(const InstanceRecord& record) = 0;
  // Replaces the row with record.instance_id, keeping created_at. kNotFound, kConflict (ip).
  virtual InstanceRecord update_instance(const InstanceRecord& record) = 0;
  virtual bool delete_instance(std::string_view instance_id) = 0;
  // Writes many records at once (an import): a record whose instance_id is stored replaces that
  // row as update_instance does (created_at kept), the others are inserted; all under one
  // revision, with their change-log rows. At most kLookupBatch records, each instance_id once
  // (kInvalid otherwise, as for a record insert_instance refuses). All or nothing: on any error
  // (kConflict when an address is held by an instance other than the record's, or given twice)
  // none of the batch is written, and a caller that must say which record it was writes them
  // one by one. One statement on Postgres, so the cost is the batch's rows, not a round trip
  // each.
  virtual void write_instances(const std::vector<InstanceRecord>& records) = 0;
  // After a bulk write (an import that changed a good part of the table): brings the query
  // planner's statistics of the instance tables up to date now, so that the admin listing's
  // plans fit the table's new size at once rather than after the database's own next round
  // (Postgres: ANALYZE, which reads a bounded sample of rows; with the statistics of an empty
  // table, a search of a million rows picked a full scan, ~1 s). SQLite plans these queries from
  // their indexes alone and keeps no statistics: nothing to do there.
  virtual void update_planner_statistics() = 0;
  // A counter that grows by exactly one per committed transaction that writes instances (insert,
  // update, delete; a write outside transaction() is a transaction of its own), from this process
  // or another one. All the instance writes of one transaction() share its revision, so an
  // import of a million records is one revision. A writer that makes one write per transaction
  // can tell whether only its own write happened since: the revision moved by exactly one.
  virtual std::int64_t revision() = 0;

  // Every instance write also records, in its transaction, the instance it changed under the
  // revision it produced (the change log; a batch write path added later must do the same, or
  // readers take its revisions for a gap and read everything). This reads the instances written
  // after revision `since`, one entry per instance id with its row now, and the revision that
  // brings the reader to, all from one consistent view of the database. kGap when the log does
  // not reach back to `since` (every revision after it must have its rows), kTooMany beyond
  // `limit` change rows (the work is bounded before any row is read).
  virtual InstanceChanges instance_changes_since(std::int64_t since, std::size_t limit) = 0;
  // Deletes change-log rows written before `before_unix_s` (Unix seconds), oldest revision first,
  // at most `limit` of them (an indexed range, so a call costs what it deletes); returns how many
  // it deleted. A reader whose revision falls behind what is left gets kGap.
  virtual std::size_t prune_instance_changes(std::int64_t before_unix_s, std::size_t limit) = 0;

  // Runs `body` as one transaction: the calls the calling thread makes on this Store inside it
  // commit together when body returns, or not at all when it throws (the exception goes on to
  // the caller). Reads inside see the transaction's own writes; a write that fails inside (a
  // conflict) undoes only itself, so body may catch it and go on. A nested call joins the
  // outer transaction. Other threads' calls are not part of it.
  virtual void transaction(const std::function<void()>& body) = 0;

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
  // Records that the token was last used at `at` (RFC 3339 UTC). Called coalesced, not per
  // request (admin/token_use.hpp); a revoked token's id matches nothing.
  virtual void touch_api_token(std::int64_t id, std::string_view at) = 0;

  // Admin page sessions. create also deletes every expired session (now: Unix seconds), so the
  // table holds only live ones; find does not check expiry (the caller compares expires_at).
  virtual void create_admin_session(const AdminSession& session, std::int64_t now) = 0;
  virtual std::optional<AdminSession> find_admin_session(std::string_view id_hash) = 0;
  virtual bool delete_admin_session(std::string_view id_hash) = 0;
  // Ends every session of `username` but the one whose id_hash is `keep` ("" keeps none): a new
  // password must log out whoever knew the old one. Returns how many ended.
  virtual std::size_t delete_admin_sessions_of(std::string_view username,
                                               std::string_view keep) = 0;

  // Audit log (append-only). append returns the entry with id and at set.
  virtual AuditEntry append_audit(const AuditEntry& entry) = 0;
  virtual std::vector<AuditEntry> list_audit(const AuditQuery& query) = 0;

  // Settings: small named values (the generated SECRET_KEY). Inserts `value` unless the key
  // exists, and returns the stored value either way, so concurrent starters agree on one.
  virtual std::string get_or_create_setting(std::string_view key, std::string_view value) = 0;
  virtual std::optional<std::string> get_setting(std::string_view key) = 0;
  // Replaces the value of `key` only while it is still `expected` (a change made from what was
  // read, which must not overwrite another's made meanwhile); false when it was not.
  virtual bool replace_setting(std::string_view key, std::string_view expected,
                               std::string_view value) = 0;
};

// How a Store reaches its database. Only PostgresStore has a pool and network timeouts; SQLite
// works on one file through one connection. The defaults are DATABASE_POOL_SIZE's,
// DATABASE_POOL_TIMEOUT_MS's and DATABASE_TIMEOUT_MS's (config.hpp; a unit test keeps them equal).
struct StoreOptions {
  std::size_t pool_size = 4;                   // connections at most, opened as needed
  std::chrono::milliseconds pool_wait{5000};   // a caller waits this long for a free one
  // The longest the database may stay silent: to connect, and between the bytes of an answer.
  // Past it the call fails with kUnavailable and the connection is dropped.
  std::chrono::milliseconds timeout{3000};
  // false: open_store() does not connect yet, so `serve` gets a Store while the database is
  // unreachable and connects on the first call (the CLI wants a wrong URL to fail at once).
  bool connect_at_open = true;
};

// Opens the store named by a DATABASE_URL value ("" -> ./cloudmeta.db). Throws StoreError
// (kInvalid for an unsupported or malformed URL).
std::unique_ptr<Store> open_store(const std::string& database_url,
                                  const StoreOptions& options = {});

// True when DATABASE_URL names a server reached over the network (Postgres), which can stop
// answering while this host runs; a SQLite file that cannot be used is a configuration error.
bool is_network_database(const std::string& database_url);

}  // namespace cloudmeta
