#include "postgres_store.hpp"
#include "instance_listing_sql.hpp"
#include "stored_record.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "cloudmeta/ip_key.hpp"
#include "pg_migrator.hpp"
#include "pg_text_array.hpp"

namespace cloudmeta::store {
namespace {

using Kind = StoreError::Kind;

// Timestamps come from the database's clock, the one clock every host of a fleet shares; now() is
// the transaction's start, so an insert's created_at and updated_at are equal.
#define CLOUDMETA_PG_NOW "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

constexpr const char* kInstanceColumns =
    "SELECT instance_id, ip, doc, created_at, updated_at FROM instances";

// Rows per FETCH of scan_instances: ~10 MB of 1 KB documents, few round trips per million.
constexpr int kScanBatch = 10000;

// Columns as kInstanceColumns.
InstanceRecord record_from_row(const PgRows& rows, int row) {
  return record_from_stored(rows.text(row, 0), rows.text(row, 1), rows.text(row, 2),
                            rows.text(row, 3), rows.text(row, 4));
}

std::vector<InstanceRecord> records_from(const PgRows& rows) {
  std::vector<InstanceRecord> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(record_from_row(rows, i));
  return out;
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
    "SELECT id, name, token_hash, prefix, created_at, last_used_at FROM api_tokens";

#define CLOUDMETA_PG_UNIX_NOW "extract(epoch FROM now())::bigint"

// Runs first in every instance write: the single-row UPDATE's lock, held to COMMIT, serialises
// the instance writers of every host, so the statements after it see every other writer's
// committed rows (the address an instance had before, for the change log) and nobody else's
// uncommitted ones; and the counter grows by exactly one per committed transaction. Only the
// transaction's first write updates the row (bumped_by; a later one would add a row version per
// record, and an import's cost would grow with its square); the later ones read the revision
// their transaction set. The NOTIFY is delivered only if the transaction commits, once.
std::string bump_revision(PgConnection& db) {
  const auto rows = db.exec(
      "WITH bumped AS (UPDATE instance_revision SET value = value + 1,"
      " bumped_by = txid_current() WHERE id = 1 AND bumped_by IS DISTINCT FROM txid_current()"
      " RETURNING value, pg_notify('cloudmeta_instances', value::text))"
      " SELECT value FROM bumped UNION ALL"
      " SELECT value FROM instance_revision WHERE id = 1 AND bumped_by = txid_current()");
  if (rows.size() != 1) {
    throw StoreError(Kind::kCorrupt, "the instance_revision row is missing");
  }
  return rows.text(0, 0);
}

// The connection a thread's open transaction() runs on, per store: the calls its body makes
// must join that transaction, not lease another connection (which could also deadlock a pool of
// one). Saved and restored, so transactions on two stores can nest on one thread.
struct Binding {
  const PostgresStore* store = nullptr;
  PgConnection* connection = nullptr;
};
thread_local Binding t_binding;

}  // namespace

class PostgresStore::Connection {
 public:
  explicit Connection(PgConnection& joined) : connection_(&joined) {}
  explicit Connection(PgPool::Lease lease) : lease_(std::move(lease)), connection_(&**lease_) {}
  PgConnection& operator*() const { return *connection_; }
  PgConnection* operator->() const { return connection_; }

 private:
  std::optional<PgPool::Lease> lease_;
  PgConnection* connection_;
};

PostgresStore::PostgresStore(const std::string& url, const StoreOptions& options)
    : pool_(url, options.pool_size, options.pool_wait, options.timeout) {
  // Connect now: a wrong URL or password is an error at start, not later.
  if (options.connect_at_open) pool_.acquire();
}

PostgresStore::Connection PostgresStore::connection() {
  if (t_binding.store == this) return Connection(*t_binding.connection);
  return Connection(pool_.acquire());
}

void PostgresStore::transaction(const std::function<void()>& body) {
  auto db = connection();
  PgTransaction tx(*db);  // a savepoint when this thread is in a transaction already
  const Binding outer = t_binding;
  t_binding = {this, &*db};
  try {
    body();
  } catch (...) {
    t_binding = outer;
    throw;
  }
  t_binding = outer;
  tx.commit();
}

int PostgresStore::migrate() { return pg_migrate(*connection()); }

int PostgresStore::schema_version() { return pg_schema_version(*connection()); }

// ---- instances ----

std::vector<InstanceRecord> PostgresStore::list_instances() {
  return records_from(
      connection()->exec((std::string(kInstanceColumns) + " ORDER BY instance_id").c_str()));
}

std::int64_t PostgresStore::scan_instances(const std::function<void(StoredInstance&&)>& visit) {
  // A fleet-sized answer streams for longer than DATABASE_TIMEOUT_MS: the statement is exempt
  // from the server's statement_timeout, and the client's bound still ends a silence.
  auto db = connection();
  const bool own = t_binding.store != this;
  PgTransaction tx(*db);
  // The revision and the rows from one view: a snapshot built from them is exactly that revision,
  // which the change log's readers rely on (instance_changes_since).
  if (own) db->exec_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  // Nor is it idle in the transaction between fetches: the rows are being built into a snapshot
  // (and written to the cache file), at whatever speed this host has.
  db->exec_script("SET LOCAL statement_timeout = 0");
  db->exec_script("SET LOCAL idle_in_transaction_session_timeout = 0");
  const std::int64_t revision =
      db->exec("SELECT value FROM instance_revision WHERE id = 1").integer(0, 0);
  // Through a cursor, kScanBatch rows a round trip, handed over from libpq's buffer as they are:
  // one SELECT of the whole table made libpq hold every row at once (1 GB at a million rows,
  // and a copy of each in strings besides), the memory of a second fleet at every full reload.
  // The sixth column: the MAC of a row whose address may be learned (StoredInstance::learn_mac).
  db->exec_script(
      "DECLARE cloudmeta_scan NO SCROLL CURSOR FOR SELECT instance_id, ip, doc, created_at,"
      " updated_at, CASE WHEN ip IS NULL OR ip_learned THEN mac_key END FROM instances");
  const std::string fetch = "FETCH " + std::to_string(kScanBatch) + " FROM cloudmeta_scan";
  for (;;) {
    const auto rows = db->exec(fetch.c_str());
    for (int i = 0; i < rows.size(); ++i) {
      visit({rows.view(i, 0), rows.view(i, 1), rows.view(i, 2), rows.view(i, 3),
             rows.view(i, 4), rows.view(i, 5)});
    }
    if (rows.size() < kScanBatch) break;
  }
  db->exec_script("CLOSE cloudmeta_scan");  // a later scan in this transaction declares it again
  tx.commit();
  return revision;
}

std::size_t PostgresStore::instance_count_hint() {
  // The planner's own estimate: rows per page at the last ANALYZE times the pages there are now
  // (reltuples is -1 until the table is first analysed; count(*) would read every row).
  const auto rows = connection()->exec(
      "SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN 0 ELSE"
      " (c.reltuples / c.relpages * (pg_relation_size(c.oid)"
      " / current_setting('block_size')::bigint))::bigint END"
      " FROM pg_class c WHERE c.oid = 'instances'::regclass");
  return static_cast<std::size_t>(std::max<std::int64_t>(rows.integer(0, 0), 0));
}

std::optional<InstanceRecord> PostgresStore::find_instance(std::string_view instance_id) {
  const std::string sql = std::string(kInstanceColumns) + " WHERE instance_id = $1";
  auto rows = connection()->exec(sql.c_str(), {instance_id});
  if (rows.empty()) return std::nullopt;
  return record_from_row(rows, 0);
}

std::vector<InstanceRecord> PostgresStore::find_instances(const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  const std::string sql = std::string(kInstanceColumns) + " WHERE instance_id = ANY($1::text[])";
  return records_from(connection()->exec(sql.c_str(), {pg_text_array(ids)}));
}

std::vector<std::pair<std::string, std::string>> PostgresStore::holders_of(
    const std::vector<std::string>& ips) {
  // Stored addresses are canonical; each is looked up in that form and answered in the form
  // asked, as find_instance_by_ip does.
  std::vector<std::string> canonical;
  std::unordered_map<std::string, std::vector<std::string>> asked_as;
  for (const auto& ip : ips) {
    const auto key = IpKey::parse(ip);
    if (!key) continue;
    auto& forms = asked_as[key->to_string()];
    if (forms.empty()) canonical.push_back(key->to_string());
    forms.push_back(ip);
  }
  if (canonical.empty()) return {};
  const auto rows = connection()->exec(
      "SELECT ip, instance_id FROM instances WHERE ip = ANY($1::text[])",
      {pg_text_array(canonical)});
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < rows.size(); ++i) {
    for (const auto& form : asked_as.at(rows.text(i, 0))) out.emplace_back(form, rows.text(i, 1));
  }
  return out;
}

std::optional<InstanceRecord> PostgresStore::find_instance_by_ip(std::string_view ip) {
  return instance_by_ip(*connection(), ip);
}

std::optional<InstanceRecord> PostgresStore::instance_by_ip(PgConnection& db,
                                                            std::string_view ip) {
  // Stored addresses are canonical (record_json), so "::ffff:10.0.0.1" finds 10.0.0.1.
  const auto key = IpKey::parse(ip);
  if (!key) return std::nullopt;
  auto rows =
      db.exec((std::string(kInstanceColumns) + " WHERE ip = $1").c_str(), {key->to_string()});
  if (rows.empty()) return std::nullopt;
  return record_from_row(rows, 0);
}

// The unique constraints decide (no check-then-insert race between hosts); the message names the
// column at fault as SqliteStore's does, which the admin API turns into {"field": ...}. Called
// after the failed write has rolled back (to its savepoint, inside a transaction()), so the
// owner can be looked up on the same connection.
StoreError PostgresStore::instance_conflict(PgConnection& db, const PgError& e,
                                            const InstanceRecord& record) {
  if (e.constraint() == "instances_mac_key") {
    const auto owner = db.exec("SELECT instance_id FROM instances WHERE mac_key = $1", {record.mac});
    return StoreError(Kind::kConflict, "mac " + record.mac + " is already used by " +
                                           (owner.empty() ? "another instance" : owner.text(0, 0)));
  }
  if (e.constraint() != "instances_ip_key") {
    return StoreError(Kind::kConflict, "instance_id " + record.instance_id + " already exists");
  }
  auto owner = instance_by_ip(db, record.ip);
  return StoreError(Kind::kConflict, "ip " + record.ip + " is already used by " +
                                         (owner ? owner->instance_id : "another instance"));
}

InstanceRecord PostgresStore::insert_instance(const InstanceRecord& record) {
  InstanceRecord stored = normalised(record);
  const std::string doc = document_of(stored);
  auto db = connection();
  try {
    PgTransaction tx(*db);
    const std::string revision = bump_revision(*db);
    auto rows = db->exec(
        "WITH logged AS (INSERT INTO instance_changes (revision, instance_id, ip_before,"
        " changed_at) VALUES ($4::bigint, $1, '', " CLOUDMETA_PG_UNIX_NOW
        ") ON CONFLICT (revision, instance_id) DO NOTHING)"
        " INSERT INTO instances (instance_id, ip, doc, created_at, updated_at)"
        " VALUES ($1, NULLIF($2, ''), $3, " CLOUDMETA_PG_NOW ", " CLOUDMETA_PG_NOW
        ") RETURNING created_at, updated_at",
        {stored.instance_id, stored.ip, doc, revision});
    stored.created_at = rows.text(0, 0);
    stored.updated_at = rows.text(0, 1);
    tx.commit();
  } catch (const PgError& e) {
    if (e.kind() == Kind::kConflict) throw instance_conflict(*db, e, stored);
    throw;
  }
  return stored;
}

InstanceRecord PostgresStore::update_instance(const InstanceRecord& record) {
  InstanceRecord stored = normalised(record);
  const std::string doc = document_of(stored);
  auto db = connection();
  try {
    PgTransaction tx(*db);
    const std::string revision = bump_revision(*db);
    // The first change of this instance in the revision keeps the address it had before it.
    auto rows = db->exec(
        "WITH logged AS (INSERT INTO instance_changes (revision, instance_id, ip_before,"
        " changed_at) SELECT $4::bigint, $1, COALESCE(ip, ''), " CLOUDMETA_PG_UNIX_NOW
        " FROM instances WHERE instance_id = $1 ON CONFLICT (revision, instance_id) DO NOTHING)"
        " UPDATE instances SET ip = NULLIF($2, ''), doc = $3, updated_at = " CLOUDMETA_PG_NOW
        " WHERE instance_id = $1 RETURNING created_at, updated_at",
        {stored.instance_id, stored.ip, doc, revision});
    if (rows.empty()) {
      throw StoreError(Kind::kNotFound, "instance " + stored.instance_id + " not found");
    }
    stored.created_at = rows.text(0, 0);
    stored.updated_at = rows.text(0, 1);
    tx.commit();
  } catch (const PgError& e) {
    if (e.kind() == Kind::kConflict) throw instance_conflict(*db, e, stored);
    throw;
  }
  return stored;
}

void PostgresStore::write_instances(const std::vector<InstanceRecord>& records) {
  check_write_batch(records);
  if (records.empty()) return;
  std::vector<std::string> ids, ips, docs;
  for (const auto& record : records) {
    InstanceRecord stored = normalised(record);
    docs.push_back(document_of(stored));
    ids.push_back(std::move(stored.instance_id));
    ips.push_back(std::move(stored.ip));
  }
  auto db = connection();
  PgTransaction tx(*db);  // a savepoint inside transaction(): a failure undoes the whole batch
  const std::string revision = bump_revision(*db);
  // One statement for the batch: the arrays are unnested into rows in the order given. Every
  // part of a statement sees the rows as they were before it, so the change log gets the address
  // each instance had before (none for a new one); a row already logged in this revision keeps
  // its first one, as for single writes. The triggers of the admin listing run per row as usual.
  try {
    db->exec("WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
             " WITH ORDINALITY AS input (instance_id, ip, doc, n)),"
             " logged AS (INSERT INTO instance_changes (revision, instance_id, ip_before,"
             " changed_at) SELECT $4::bigint, input.instance_id, coalesce(instances.ip, ''), "
             CLOUDMETA_PG_UNIX_NOW " FROM input LEFT JOIN instances"
             " ON instances.instance_id = input.instance_id"
             " ON CONFLICT (revision, instance_id) DO NOTHING)"
             " INSERT INTO instances (instance_id, ip, doc, created_at, updated_at)"
             " SELECT instance_id, NULLIF(ip, ''), doc, " CLOUDMETA_PG_NOW ", " CLOUDMETA_PG_NOW
             " FROM input ORDER BY n"
             " ON CONFLICT (instance_id) DO UPDATE SET ip = excluded.ip, doc = excluded.doc,"
             " updated_at = excluded.updated_at",
             {pg_text_array(ids), pg_text_array(ips), pg_text_array(docs), revision});
  } catch (const PgError& e) {
    // Only the address or the MAC can collide (instance_id is the arbiter); which record's,
    // the caller learns by writing them one by one.
    if (e.kind() == Kind::kConflict) {
      throw StoreError(Kind::kConflict, "an address or a MAC of the batch is already used by "
                                        "another instance");
    }
    throw;
  }
  tx.commit();
}

void PostgresStore::update_planner_statistics() {
  auto db = connection();
  db->exec("ANALYZE instances");
  db->exec("ANALYZE instance_tags");
}

bool PostgresStore::delete_instance(std::string_view instance_id) {
  auto db = connection();
  PgTransaction tx(*db);
  const std::string revision = bump_revision(*db);
  if (db->exec("WITH gone AS (DELETE FROM instances WHERE instance_id = $1 RETURNING ip),"
               " logged AS (INSERT INTO instance_changes (revision, instance_id, ip_before,"
               " changed_at) SELECT $2::bigint, $1, COALESCE(ip, ''), " CLOUDMETA_PG_UNIX_NOW
               " FROM gone ON CONFLICT (revision, instance_id) DO NOTHING)"
               " SELECT 1 FROM gone",
               {instance_id, revision})
          .empty()) {
    return false;  // nothing written: rolled back, bump included
  }
  tx.commit();
  return true;
}

std::int64_t PostgresStore::revision() {
  return connection()->exec("SELECT value FROM instance_revision WHERE id = 1").integer(0, 0);
}

InstanceChanges PostgresStore::instance_changes_since(std::int64_t since, std::size_t limit) {
  auto db = connection();
  // A transaction of the caller's already has one view; otherwise one is made for this read.
  const bool own = t_binding.store != this;
  PgTransaction tx(*db);
  if (own) db->exec_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  InstanceChanges out;
  out.revision = db->exec("SELECT value FROM instance_revision WHERE id = 1").integer(0, 0);
  if (out.revision == since) return out;
  if (out.revision < since || since < 0) {
    out.status = InstanceChanges::Status::kGap;
    return out;
  }
  const std::string from = std::to_string(since), to = std::to_string(out.revision);
  const auto counted = db->exec(
      "SELECT count(*), count(DISTINCT revision) FROM instance_changes"
      " WHERE revision > $1::bigint AND revision <= $2::bigint",
      {from, to});
  // Every revision bumped by this version has change rows: one without is a pruned one, or was
  // written around the log (an older version, a hand edit).
  if (counted.integer(0, 1) != out.revision - since) {
    out.status = InstanceChanges::Status::kGap;
    return out;
  }
  if (static_cast<std::uint64_t>(counted.integer(0, 0)) > limit) {
    out.status = InstanceChanges::Status::kTooMany;
    return out;
  }
  // One row per instance id: the address from its first change after `since`, the row now.
  const auto rows = db->exec(
      "SELECT c.instance_id, c.ip_before, i.instance_id, i.ip, i.doc, i.created_at, i.updated_at"
      " FROM (SELECT instance_id, ip_before, row_number() OVER"
      " (PARTITION BY instance_id ORDER BY revision) AS nth FROM instance_changes"
      " WHERE revision > $1::bigint AND revision <= $2::bigint) c"
      " LEFT JOIN instances i ON i.instance_id = c.instance_id WHERE c.nth = 1",
      {from, to});
  tx.commit();
  out.changes.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    InstanceChange& change = out.changes.emplace_back();
    change.instance_id = rows.text(i, 0);
    change.ip_before = rows.text(i, 1);
    if (!rows.is_null(i, 2)) {
      change.row = StoredRow{change.instance_id, rows.text(i, 3), rows.text(i, 4),
                             rows.text(i, 5), rows.text(i, 6)};
    }
  }
  return out;
}

std::size_t PostgresStore::prune_instance_changes(std::int64_t before_unix_s, std::size_t limit) {
  // The oldest `limit` rows by revision, of which those written before the cut: a walk of the
  // primary key from its start that stops after `limit` rows whatever their age.
  return static_cast<std::size_t>(
      connection()
          ->exec("WITH pruned AS (DELETE FROM instance_changes WHERE (revision, instance_id) IN"
                 " (SELECT revision, instance_id FROM (SELECT revision, instance_id, changed_at"
                 " FROM instance_changes ORDER BY revision LIMIT $2::bigint) oldest"
                 " WHERE changed_at < $1::bigint) RETURNING 1) SELECT count(*) FROM pruned",
                 {std::to_string(before_unix_s), std::to_string(limit)})
          .integer(0, 0));
}

// ---- users ----

User PostgresStore::create_user(const User& user) {
  if (user.username.empty()) throw StoreError(Kind::kInvalid, "username must not be empty");
  try {
    auto rows = connection()->exec(
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
  const std::string sql = std::string(kUserColumns) + " WHERE username = $1";
  auto rows = connection()->exec(sql.c_str(), {username});
  if (rows.empty()) return std::nullopt;
  return user_from_row(rows, 0);
}

std::vector<User> PostgresStore::list_users() {
  auto rows = connection()->exec((std::string(kUserColumns) + " ORDER BY username").c_str());
  std::vector<User> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(user_from_row(rows, i));
  return out;
}

bool PostgresStore::set_password_hash(std::string_view username, std::string_view password_hash) {
  return !connection()
              ->exec("UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING 1",
                     {username, password_hash})
              .empty();
}

// ---- API tokens ----

ApiToken PostgresStore::create_api_token(const ApiToken& token) {
  if (token.name.empty()) throw StoreError(Kind::kInvalid, "token name must not be empty");
  try {
    auto rows = connection()->exec(
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
    if (e.constraint() == "api_tokens_token_hash_key") {
      throw StoreError(Kind::kConflict, "token_hash is already registered to another token");
    }
    throw StoreError(Kind::kConflict, "API token name " + token.name + " already exists");
  }
}

std::vector<ApiToken> PostgresStore::list_api_tokens() {
  auto rows = connection()->exec((std::string(kTokenColumns) + " ORDER BY name").c_str());
  std::vector<ApiToken> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(token_from_row(rows, i));
  return out;
}

std::optional<ApiToken> PostgresStore::find_api_token_by_hash(std::string_view token_hash) {
  const std::string sql = std::string(kTokenColumns) + " WHERE token_hash = $1";
  auto rows = connection()->exec(sql.c_str(), {token_hash});
  if (rows.empty()) return std::nullopt;
  return token_from_row(rows, 0);
}

bool PostgresStore::revoke_api_token(std::string_view name) {
  return !connection()->exec("DELETE FROM api_tokens WHERE name = $1 RETURNING 1", {name}).empty();
}

void PostgresStore::touch_api_token(std::int64_t id, std::string_view at) {
  connection()->exec("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1::bigint",
                     {std::to_string(id), at});
}

// ---- settings ----

// Two statements on purpose: a concurrent starter's INSERT makes ours wait for its commit and then
// do nothing, and the following SELECT (a new snapshot under READ COMMITTED) sees its row. A single
// INSERT ... RETURNING / SELECT statement could see neither row.
std::string PostgresStore::get_or_create_setting(std::string_view key, std::string_view value) {
  auto db = connection();
  db->exec("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
           {key, value});
  auto stored = read_setting(*db, key);
  if (!stored) throw StoreError(Kind::kCorrupt, "setting vanished right after it was written");
  return *stored;
}

std::optional<std::string> PostgresStore::get_setting(std::string_view key) {
  return read_setting(*connection(), key);
}

bool PostgresStore::replace_setting(std::string_view key, std::string_view expected,
                                    std::string_view value) {
  return !connection()
              ->exec("UPDATE settings SET value = $3 WHERE key = $1 AND value = $2 RETURNING 1",
                     {key, expected, value})
              .empty();
}

std::optional<std::string> PostgresStore::read_setting(PgConnection& db, std::string_view key) {
  auto rows = db.exec("SELECT value FROM settings WHERE key = $1", {key});
  if (rows.empty()) return std::nullopt;
  return rows.text(0, 0);
}

void PostgresStore::create_admin_session(const AdminSession& session, std::int64_t now) {
  auto db = connection();
  const std::string now_text = std::to_string(now);
  const std::string expires = std::to_string(session.expires_at);
  db->exec("DELETE FROM admin_sessions WHERE expires_at <= $1::bigint", {now_text});
  db->exec(
      "INSERT INTO admin_sessions (id_hash, username, peer, created_at, expires_at)"
      " VALUES ($1, $2, $3, " CLOUDMETA_PG_NOW ", $4::bigint)",
      {session.id_hash, session.username, session.peer, expires});
}

std::optional<AdminSession> PostgresStore::find_admin_session(std::string_view id_hash) {
  auto rows = connection()->exec(
      "SELECT id_hash, username, peer, created_at, expires_at FROM admin_sessions"
      " WHERE id_hash = $1",
      {id_hash});
  if (rows.empty()) return std::nullopt;
  return AdminSession{rows.text(0, 0), rows.text(0, 1), rows.text(0, 2), rows.text(0, 3),
                      rows.integer(0, 4)};
}

bool PostgresStore::delete_admin_session(std::string_view id_hash) {
  return !connection()
              ->exec("DELETE FROM admin_sessions WHERE id_hash = $1 RETURNING 1", {id_hash})
              .empty();
}

std::size_t PostgresStore::delete_admin_sessions_of(std::string_view username,
                                                    std::string_view keep) {
  return static_cast<std::size_t>(
      connection()
          ->exec("DELETE FROM admin_sessions WHERE username = $1 AND id_hash <> $2 RETURNING 1",
                 {username, keep})
          .size());
}

AuditEntry PostgresStore::append_audit(const AuditEntry& entry) {
  auto rows = connection()->exec(
      "INSERT INTO audit_log"
      " (logged_at, actor, peer, action, instance_id, fields, before_doc, after_doc)"
      " VALUES (" CLOUDMETA_PG_NOW ", $1, $2, $3, $4, $5, $6, $7) RETURNING id, logged_at",
      {entry.actor, entry.peer, entry.action, entry.instance_id, entry.fields, entry.before,
       entry.after});
  AuditEntry out = entry;
  out.id = rows.integer(0, 0);
  out.at = rows.text(0, 1);
  return out;
}

std::vector<AuditEntry> PostgresStore::list_audit(const AuditQuery& query) {
  const std::string before_id = std::to_string(query.before_id);
  const std::string limit = std::to_string(query.limit);
  // Empty filters match everything, so one statement serves every combination.
  auto rows = connection()->exec(
      "SELECT id, logged_at, actor, peer, action, instance_id, fields, before_doc, after_doc"
      " FROM audit_log WHERE ($1 = '' OR instance_id = $1) AND ($2 = '' OR actor = $2)"
      " AND ($3 = '' OR logged_at >= $3) AND ($4::bigint <= 0 OR id < $4::bigint)"
      " ORDER BY id DESC LIMIT $5::bigint",
      {query.instance_id, query.actor, query.since, before_id, limit});
  std::vector<AuditEntry> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(AuditEntry{rows.integer(i, 0), rows.text(i, 1), rows.text(i, 2),
                             rows.text(i, 3), rows.text(i, 4), rows.text(i, 5), rows.text(i, 6),
                             rows.text(i, 7), rows.text(i, 8)});
  }
  return out;
}

// ---- the admin listing (cloudmeta/instance_listing.hpp) ----

namespace {

PgRows run_listing(PgConnection& db, const SqlStatement& statement) {
  std::vector<std::string> texts;
  texts.reserve(statement.params.size());
  for (const auto& param : statement.params) {
    if (const auto* text = std::get_if<std::string>(&param)) {
      texts.push_back(*text);
    } else {
      texts.push_back(std::to_string(std::get<std::int64_t>(param)));
    }
  }
  std::vector<PgParam> params(texts.begin(), texts.end());
  return db.exec(statement.sql.c_str(), params);
}

}  // namespace

std::vector<InstanceKey> PostgresStore::list_instance_keys(const InstanceKeysQuery& query) {
  const auto rows =
      run_listing(*connection(), instance_keys_sql(SqlDialect::kPostgres, query));
  std::vector<InstanceKey> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back({{rows.text(i, 0), rows.text(i, 1)}, rows.text(i, 2), rows.integer(i, 3) != 0});
  }
  return out;
}

InstanceCount PostgresStore::count_instances(const InstanceFilter& filter, std::size_t at_most) {
  auto db = connection();
  return count_instances_with(SqlDialect::kPostgres, filter, at_most,
                              [&db](const SqlStatement& statement) {
                                const auto rows = run_listing(*db, statement);
                                return static_cast<std::size_t>(
                                    std::max<std::int64_t>(rows.integer(0, 0), 0));
                              });
}

InstanceTotal PostgresStore::instance_total() {
  // count(*) reads every row (MVCC: no index knows which rows this transaction sees), about
  // 50 ms per million; past 10,000 the planner's estimate stands in, marked as one.
  constexpr std::size_t kExactUpTo = 10'000;
  const std::size_t counted = count_instances({}, kExactUpTo + 1).count;
  if (counted <= kExactUpTo) return {counted, true};
  return {std::max(instance_count_hint(), counted), false};
}


}  // namespace cloudmeta::store
