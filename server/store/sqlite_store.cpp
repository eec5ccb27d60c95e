#include "sqlite_store.hpp"
#include "instance_listing_sql.hpp"
#include "shared_macs.hpp"
#include "stored_record.hpp"

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/schema.hpp"

namespace cloudmeta::store {
namespace {

using Kind = StoreError::Kind;

// Long enough to ride out another process's write transaction (they are short), short enough
// that a wedged lock surfaces as kUnavailable instead of a hung admin request.
constexpr int kBusyTimeoutMs = 5000;

// Statements are cached by the address of these constants (SqliteStore::statement).
constexpr char kCreateMigrations[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL)";
constexpr char kMigrationsTableExists[] =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
constexpr char kSchemaVersion[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
constexpr char kMigrationApplied[] = "SELECT 1 FROM schema_migrations WHERE version = ?";
constexpr char kRecordMigration[] =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)";

// Before migration 0005 (shared_macs.hpp): the MACs that two or more rows hold.
constexpr char kSharedMacs[] =
    "SELECT lower(json_extract(doc, '$.mac')) AS m, group_concat(instance_id, ' ')"
    " FROM instances WHERE json_valid(doc) AND json_type(doc, '$.mac') = 'text'"
    " AND json_extract(doc, '$.mac') <> '' GROUP BY m HAVING count(*) > 1 ORDER BY m LIMIT ?";

constexpr char kListInstances[] =
    "SELECT instance_id, ip, doc, created_at, updated_at FROM instances ORDER BY instance_id";
// The sixth column: the MAC of a row whose address may be learned (StoredInstance::learn_mac).
constexpr char kScanInstances[] =
    "SELECT instance_id, ip, doc, created_at, updated_at,"
    " CASE WHEN ip IS NULL OR ip_learned THEN mac_key END FROM instances";
// O(log n): the last leaf of the table's b-tree. count(*) reads a whole index instead (15 ms
// warm, 0.4 s cold at 1,000,000 rows; docs/benchmarks.md).
constexpr char kMaxRowid[] = "SELECT COALESCE(MAX(rowid), 0) FROM instances";
constexpr char kCountInstances[] = "SELECT count(*) FROM instances";
constexpr char kFindInstance[] =
    "SELECT instance_id, ip, doc, created_at, updated_at FROM instances WHERE instance_id = ?";
constexpr char kFindInstanceByIp[] =
    "SELECT instance_id, ip, doc, created_at, updated_at FROM instances WHERE ip = ?";
constexpr char kInstanceExists[] = "SELECT 1 FROM instances WHERE instance_id = ?";
constexpr char kInstanceOwningIp[] = "SELECT instance_id FROM instances WHERE ip = ?";
constexpr char kInstanceOwningMac[] = "SELECT instance_id FROM instances WHERE mac_key = ?";
constexpr char kInstanceCreatedAt[] =
    "SELECT created_at, ip FROM instances WHERE instance_id = ?";
constexpr char kInsertInstance[] =
    "INSERT INTO instances (instance_id, ip, doc, created_at, updated_at)"
    " VALUES (?, NULLIF(?, ''), ?, ?, ?)";
constexpr char kUpdateInstance[] =
    "UPDATE instances SET ip = NULLIF(?, ''), doc = ?, updated_at = ? WHERE instance_id = ?";
constexpr char kDeleteInstance[] =
    "DELETE FROM instances WHERE instance_id = ? RETURNING COALESCE(ip, '')";
// The first instance write of a transaction bumps the revision; the later ones find their own
// token in bumped_by and share it (schema/sqlite/0003_change_log.sql).
constexpr char kBumpRevision[] =
    "UPDATE instance_revision SET value = value + (bumped_by IS NOT ?1), bumped_by = ?1"
    " WHERE id = 1 RETURNING value";
// The first write of an instance in a revision keeps its ip_before: the address before the
// revision.
constexpr char kLogChange[] =
    "INSERT INTO instance_changes (revision, instance_id, ip_before, changed_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (revision, instance_id) DO NOTHING";
constexpr char kCountChanges[] =
    "SELECT count(*), count(DISTINCT revision) FROM instance_changes"
    " WHERE revision > ?1 AND revision <= ?2";
// One row per instance id: the address from its first change after ?1 (the reader's), the row now.
constexpr char kChangedInstances[] =
    "SELECT c.instance_id, c.ip_before, i.instance_id IS NOT NULL, i.ip, i.doc, i.created_at,"
    " i.updated_at FROM (SELECT instance_id, ip_before, row_number() OVER"
    " (PARTITION BY instance_id ORDER BY revision) AS nth FROM instance_changes"
    " WHERE revision > ?1 AND revision <= ?2) c"
    " LEFT JOIN instances i ON i.instance_id = c.instance_id WHERE c.nth = 1";
// The oldest ?2 rows by revision, of which those written before ?1: a walk of the primary key
// from its start that stops after ?2 rows whatever their age.
constexpr char kPruneChanges[] =
    "DELETE FROM instance_changes WHERE (revision, instance_id) IN"
    " (SELECT revision, instance_id FROM (SELECT revision, instance_id, changed_at"
    " FROM instance_changes ORDER BY revision LIMIT ?2) WHERE changed_at < ?1)";
constexpr char kReadRevision[] = "SELECT value FROM instance_revision WHERE id = 1";
constexpr char kDataVersion[] = "PRAGMA data_version";

constexpr char kFindUser[] =
    "SELECT id, username, email, password_hash, created_at FROM users WHERE username = ?";
constexpr char kListUsers[] =
    "SELECT id, username, email, password_hash, created_at FROM users ORDER BY id";
constexpr char kUserExists[] = "SELECT 1 FROM users WHERE username = ?";
constexpr char kInsertUser[] =
    "INSERT INTO users (username, email, password_hash, created_at) VALUES (?, ?, ?, ?)";
constexpr char kSetPasswordHash[] = "UPDATE users SET password_hash = ? WHERE username = ?";

constexpr char kFindTokenByHash[] =
    "SELECT id, name, token_hash, prefix, created_at, last_used_at FROM api_tokens"
    " WHERE token_hash = ?";
constexpr char kListTokens[] =
    "SELECT id, name, token_hash, prefix, created_at, last_used_at FROM api_tokens ORDER BY id";
constexpr char kTokenNameExists[] = "SELECT 1 FROM api_tokens WHERE name = ?";
constexpr char kTokenHashExists[] = "SELECT 1 FROM api_tokens WHERE token_hash = ?";
constexpr char kInsertToken[] =
    "INSERT INTO api_tokens (name, token_hash, prefix, created_at, last_used_at)"
    " VALUES (?, ?, ?, ?, '')";
constexpr char kRevokeToken[] = "DELETE FROM api_tokens WHERE name = ?";
constexpr char kTouchToken[] = "UPDATE api_tokens SET last_used_at = ? WHERE id = ?";

constexpr char kDeleteExpiredSessions[] = "DELETE FROM admin_sessions WHERE expires_at <= ?";
constexpr char kInsertSession[] =
    "INSERT INTO admin_sessions (id_hash, username, peer, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?)";
constexpr char kFindSession[] =
    "SELECT id_hash, username, peer, created_at, expires_at FROM admin_sessions WHERE id_hash = ?";
constexpr char kDeleteSession[] = "DELETE FROM admin_sessions WHERE id_hash = ?";
constexpr char kDeleteSessionsOf[] =
    "DELETE FROM admin_sessions WHERE username = ? AND id_hash <> ?";
constexpr char kInsertAudit[] =
    "INSERT INTO audit_log"
    " (logged_at, actor, peer, action, instance_id, fields, before_doc, after_doc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
// Empty filters match everything, so one prepared statement serves every combination.
constexpr char kListAudit[] =
    "SELECT id, logged_at, actor, peer, action, instance_id, fields, before_doc, after_doc"
    " FROM audit_log WHERE (?1 = '' OR instance_id = ?1) AND (?2 = '' OR actor = ?2)"
    " AND (?3 = '' OR logged_at >= ?3) AND (?4 <= 0 OR id < ?4) ORDER BY id DESC LIMIT ?5";

constexpr char kInsertSettingOnce[] =
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING";
constexpr char kGetSetting[] = "SELECT value FROM settings WHERE key = ?";
constexpr char kReplaceSetting[] = "UPDATE settings SET value = ?3 WHERE key = ?1 AND value = ?2";

// A cached statement in use: unbound on entry, reset on exit, so that a half-read SELECT never
// keeps a read transaction open past the call.
class Query {
 public:
  explicit Query(SQLite::Statement& s) : s_(s) {
    s_.tryReset();
    s_.clearBindings();
  }
  ~Query() { s_.tryReset(); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  SQLite::Statement* operator->() { return &s_; }
  SQLite::Statement& operator*() { return s_; }

 private:
  SQLite::Statement& s_;
};

// BEGIN IMMEDIATE at the top level (see sqlite_store.hpp); inside Store::transaction a savepoint,
// so a write that fails undoes only itself and leaves the outer transaction usable. Rolled back
// when left without commit().
class WriteTransaction {
 public:
  explicit WriteTransaction(SQLite::Database& db)
      : db_(db), nested_(sqlite3_get_autocommit(db.getHandle()) == 0) {
    // One name serves every level: SQLite resolves a savepoint name to the newest one.
    db_.exec(nested_ ? "SAVEPOINT cloudmeta_nested" : "BEGIN IMMEDIATE");
  }
  ~WriteTransaction() {
    if (done_) return;
    try {
      if (nested_) {
        db_.exec("ROLLBACK TO SAVEPOINT cloudmeta_nested");
        db_.exec("RELEASE SAVEPOINT cloudmeta_nested");
      } else {
        db_.exec("ROLLBACK");
      }
    } catch (const SQLite::Exception&) {
      // Nothing better to do in a destructor: SQLite rolls back a failed COMMIT by itself.
    }
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit() {
    db_.exec(nested_ ? "RELEASE SAVEPOINT cloudmeta_nested" : "COMMIT");
    done_ = true;
  }

 private:
  SQLite::Database& db_;
  const bool nested_;
  bool done_ = false;
};

// SQLite's messages name tables, columns and constraints, never bound values, so they are safe
// to pass on (no user-data or secrets).
StoreError store_error(const SQLite::Exception& e, const std::string& action) {
  const std::string what = e.what();
  switch (e.getErrorCode() & 0xff) {
    case SQLITE_CONSTRAINT:
      return StoreError(Kind::kConflict, action + ": " + what);
    case SQLITE_FULL:
    case SQLITE_READONLY:
      return StoreError(Kind::kReadOnly, action + ": " + what);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_NOLFS:
      return StoreError(Kind::kUnavailable, action + ": " + what);
    default:
      break;
  }
  if (what.find("no such table") != std::string::npos) {
    return StoreError(Kind::kCorrupt,
                      action + ": the database has no schema yet; run `cloudmeta migrate`");
  }
  return StoreError(Kind::kCorrupt, action + ": " + what);
}

template <class F>
auto guarded(const std::string& action, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    throw store_error(e, action);
  }
}

std::int64_t unix_now() {
  return static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::uint64_t random_token() {
  std::random_device random;
  return (std::uint64_t{random()} << 32) ^ random();
}

// A read transaction around several statements, so they see one state of the database; inside
// a transaction already, that transaction's state.
class ReadTransaction {
 public:
  explicit ReadTransaction(SQLite::Database& db)
      : db_(db), own_(sqlite3_get_autocommit(db.getHandle()) != 0) {
    if (own_) db_.exec("BEGIN");
  }
  ~ReadTransaction() {
    if (!own_) return;
    try {
      db_.exec("COMMIT");  // nothing written: ends the read and lets the WAL move on
    } catch (const SQLite::Exception&) {
      // Only a read was open; SQLite ends it by itself with the next statement's failure.
    }
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  SQLite::Database& db_;
  const bool own_;
};

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The database holds IAM secrets and credential hashes. SQLite would create it 0666 less the
// umask (0644 outside systemd) and gives its -wal and -shm files the database file's mode, so
// a new database is created owner-only first: an empty file is an empty database to SQLite.
// O_EXCL leaves an existing file, and the mode its owner chose, alone; any other failure is
// SQLite's to report when it opens the path.
void create_owner_only(const std::string& path) {
  if (path == ":memory:") return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

SQLite::Database open_database(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    throw StoreError(Kind::kInvalid, "the directory " + parent.string() +
                                         " of the SQLite database does not exist; create it or"
                                         " change DATABASE_URL");
  }
  create_owner_only(path);
  try {
    return SQLite::Database(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, kBusyTimeoutMs);
  } catch (const SQLite::Exception& e) {
    throw store_error(e, "opening " + path);
  }
}

// Columns: instance_id, ip, doc, created_at, updated_at.
InstanceRecord record_from_row(SQLite::Statement& q) {
  return record_from_stored(q.getColumn(0).getString(), q.getColumn(1).getString(),
                            q.getColumn(2).getString(), q.getColumn(3).getString(),
                            q.getColumn(4).getString());
}

User user_from_row(SQLite::Statement& q) {
  return User{q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
              q.getColumn(3).getString(), q.getColumn(4).getString()};
}

ApiToken token_from_row(SQLite::Statement& q) {
  return ApiToken{q.getColumn(0).getInt64(),  q.getColumn(1).getString(),
                  q.getColumn(2).getString(), q.getColumn(3).getString(),
                  q.getColumn(4).getString(), q.getColumn(5).getString()};
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path)
    : db_(open_database(path)), transaction_token_(random_token()) {
  // Every end of a top-level transaction moves the token on, so no two of this connection's
  // transactions share one; another process's tokens start elsewhere in 2^64 (random_token).
  const auto next = [](void* token) { ++*static_cast<std::uint64_t*>(token); };
  sqlite3_commit_hook(
      db_.getHandle(),
      [](void* token) {
        ++*static_cast<std::uint64_t*>(token);
        return 0;  // 0: let the commit go on
      },
      &transaction_token_);
  sqlite3_rollback_hook(db_.getHandle(), next, &transaction_token_);
  guarded("opening " + path, [&] {
    // WAL: readers (another server process, the CLI) never block the writer or each other.
    // synchronous=NORMAL is durable in WAL mode except for the last commits on power loss.
    db_.exec("PRAGMA journal_mode = WAL");
    db_.exec("PRAGMA foreign_keys = ON");
    db_.exec("PRAGMA synchronous = NORMAL");
  });
}

SQLite::Statement& SqliteStore::statement(const char* sql) {
  auto& slot = statements_[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(db_, sql);
  return *slot;
}

int SqliteStore::migrate() {
  std::lock_guard lock(mutex_);
  return guarded("migrating the schema", [&] {
    const auto& all = migrations("sqlite");
    for (const Migration& m : all) {
      // IMMEDIATE, then look again: another process may have applied it while we waited.
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      db_.exec(kCreateMigrations);
      bool applied = false;
      {
        Query q(statement(kMigrationApplied));
        q->bind(1, m.version);
        applied = q->executeStep();
      }
      if (!applied) {
        if (m.version == store::kUniqueMacVersion) refuse_shared_macs();
        db_.exec(std::string(m.sql));
        Query q(statement(kRecordMigration));
        q->bind(1, m.version);
        q->bind(2, std::string(m.name));
        q->bind(3, now_utc());
        q->exec();
      }
      tx.commit();
    }
    const int version = schema_version();
    if (!all.empty() && version > all.back().version) {
      throw StoreError(Kind::kCorrupt, "the database schema (version " + std::to_string(version) +
                                           ") is newer than this binary knows (" +
                                           std::to_string(all.back().version) + ")");
    }
    return version;
  });
}

int SqliteStore::schema_version() {
  std::lock_guard lock(mutex_);
  return guarded("reading the schema version", [&] {
    {
      Query q(statement(kMigrationsTableExists));
      if (!q->executeStep()) return 0;
    }
    Query q(statement(kSchemaVersion));
    q->executeStep();
    return q->getColumn(0).getInt();
  });
}

std::vector<InstanceRecord> SqliteStore::query_instances(const char* sql,
                                                         const std::optional<std::string>& key) {
  return guarded("reading instances", [&] {
    std::vector<InstanceRecord> out;
    Query q(statement(sql));
    if (key) q->bind(1, *key);
    while (q->executeStep()) out.push_back(record_from_row(*q));
    return out;
  });
}

std::vector<InstanceRecord> SqliteStore::list_instances() {
  std::lock_guard lock(mutex_);
  return query_instances(kListInstances, std::nullopt);
}

std::int64_t SqliteStore::scan_instances(const std::function<void(StoredInstance&&)>& visit) {
  std::lock_guard lock(mutex_);
  return guarded("reading instances", [&] {
    // The revision and the rows from one read transaction: a snapshot built from them is exactly
    // that revision, which the change log's readers rely on (instance_changes_since).
    ReadTransaction tx(db_);
    std::int64_t revision = 0;
    {
      Query q(statement(kReadRevision));
      if (!q->executeStep()) {
        throw StoreError(Kind::kCorrupt, "the instance_revision row is missing");
      }
      revision = q->getColumn(0).getInt64();
    }
    Query q(statement(kScanInstances));
    // Views into SQLite's row buffers, no copies: the snapshot copies each row once, into its
    // own blocks (cloudmeta/packed_row.hpp).
    const auto text = [&q](int column) {
      const SQLite::Column c = q->getColumn(column);
      const char* bytes = c.getText();  // before getBytes(), as sqlite3_column_bytes wants
      return std::string_view(bytes, static_cast<std::size_t>(c.getBytes()));
    };
    while (q->executeStep()) visit({text(0), text(1), text(2), text(3), text(4), text(5)});
    return revision;
  });
}

std::size_t SqliteStore::instance_count_hint() {
  std::lock_guard lock(mutex_);
  return guarded("counting instances", [&] {
    Query q(statement(kMaxRowid));
    q->executeStep();
    return static_cast<std::size_t>(std::max<std::int64_t>(q->getColumn(0).getInt64(), 0));
  });
}

std::optional<InstanceRecord> SqliteStore::find_instance(std::string_view instance_id) {
  std::lock_guard lock(mutex_);
  auto rows = query_instances(kFindInstance, std::string(instance_id));
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

std::optional<InstanceRecord> SqliteStore::find_instance_by_ip(std::string_view ip) {
  std::lock_guard lock(mutex_);
  // Stored addresses are canonical (record_json), so "::ffff:10.0.0.1" finds 10.0.0.1.
  const auto key = IpKey::parse(ip);
  if (!key) return std::nullopt;
  auto rows = query_instances(kFindInstanceByIp, key->to_string());
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

// SQLite runs in this process: a prepared lookup per key costs microseconds, so a loop is the
// set-based query here (no round trips to save).
std::vector<InstanceRecord> SqliteStore::find_instances(const std::vector<std::string>& ids) {
  std::lock_guard lock(mutex_);
  std::vector<InstanceRecord> out;
  for (const auto& id : ids) {
    for (auto& record : query_instances(kFindInstance, id)) out.push_back(std::move(record));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> SqliteStore::holders_of(
    const std::vector<std::string>& ips) {
  std::lock_guard lock(mutex_);
  return guarded("reading instances", [&] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& ip : ips) {
      const auto key = IpKey::parse(ip);
      if (!key) continue;
      if (auto holder = instance_owning_ip(key->to_string())) {
        out.emplace_back(ip, std::move(*holder));
      }
    }
    return out;
  });
}

bool SqliteStore::instance_exists(const std::string& instance_id) {
  Query q(statement(kInstanceExists));
  q->bind(1, instance_id);
  return q->executeStep();
}

void SqliteStore::refuse_shared_macs() {
  std::vector<std::pair<std::string, std::string>> shared;
  Query q(statement(kSharedMacs));
  q->bind(1, store::kSharedMacsNamed);
  while (q->executeStep()) shared.emplace_back(q->getColumn(0).getString(), q->getColumn(1).getString());
  if (!shared.empty()) throw store::shared_macs_error(shared);
}

// Not in the unique index's words: the admin API answers which instance holds it (409).
void SqliteStore::refuse_taken_mac(const InstanceRecord& r) {
  if (r.mac.empty()) return;
  Query q(statement(kInstanceOwningMac));
  q->bind(1, r.mac);
  if (!q->executeStep()) return;
  const std::string owner = q->getColumn(0).getString();
  if (owner != r.instance_id) {
    throw StoreError(Kind::kConflict, "mac " + r.mac + " is already used by " + owner);
  }
}

std::optional<std::string> SqliteStore::instance_owning_ip(const std::string& ip) {
  if (ip.empty()) return std::nullopt;  // no address yet: any number of those
  Query q(statement(kInstanceOwningIp));
  q->bind(1, ip);
  if (!q->executeStep()) return std::nullopt;
  return q->getColumn(0).getString();
}

std::int64_t SqliteStore::bump_revision() {
  Query q(statement(kBumpRevision));
  // SQLite integers are signed: the token's bits, reinterpreted.
  q->bind(1, static_cast<std::int64_t>(transaction_token_));
  if (!q->executeStep()) throw StoreError(Kind::kCorrupt, "the instance_revision row is missing");
  return q->getColumn(0).getInt64();
}

std::int64_t SqliteStore::log_change(const std::string& instance_id, const std::string& ip_before) {
  const std::int64_t revision = bump_revision();
  Query q(statement(kLogChange));
  q->bind(1, revision);
  q->bind(2, instance_id);
  q->bind(3, ip_before);
  q->bind(4, unix_now());
  q->exec();
  return revision;
}

void SqliteStore::wrote_revision(std::int64_t value) {
  revision_ = value;
  revision_known_ = true;
}

InstanceRecord SqliteStore::insert_instance(const InstanceRecord& record) {
  std::lock_guard lock(mutex_);
  InstanceRecord r = normalised(record);
  const std::string doc = document_of(r);
  return guarded("inserting instance " + r.instance_id, [&] {
    WriteTransaction tx(db_);
    if (instance_exists(r.instance_id)) {
      throw StoreError(Kind::kConflict, "instance_id " + r.instance_id + " already exists");
    }
    if (auto owner = instance_owning_ip(r.ip)) {
      throw StoreError(Kind::kConflict, "ip " + r.ip + " is already used by " + *owner);
    }
    refuse_taken_mac(r);
    r.created_at = r.updated_at = now_utc();
    {
      Query q(statement(kInsertInstance));
      q->bind(1, r.instance_id);
      q->bind(2, r.ip);
      q->bind(3, doc);
      q->bind(4, r.created_at);
      q->bind(5, r.updated_at);
      q->exec();
    }
    const std::int64_t revision = log_change(r.instance_id, "");
    tx.commit();
    wrote_revision(revision);
    return r;
  });
}

InstanceRecord SqliteStore::update_instance(const InstanceRecord& record) {
  std::lock_guard lock(mutex_);
  InstanceRecord r = normalised(record);
  const std::string doc = document_of(r);
  return guarded("updating instance " + r.instance_id, [&] {
    WriteTransaction tx(db_);
    std::string ip_before;
    {
      Query q(statement(kInstanceCreatedAt));
      q->bind(1, r.instance_id);
      if (!q->executeStep()) {
        throw StoreError(Kind::kNotFound, "instance " + r.instance_id + " not found");
      }
      r.created_at = q->getColumn(0).getString();
      ip_before = q->getColumn(1).getString();
    }
    if (auto owner = instance_owning_ip(r.ip); owner && *owner != r.instance_id) {
      throw StoreError(Kind::kConflict, "ip " + r.ip + " is already used by " + *owner);
    }
    refuse_taken_mac(r);
    r.updated_at = now_utc();
    {
      Query q(statement(kUpdateInstance));
      q->bind(1, r.ip);
      q->bind(2, doc);
      q->bind(3, r.updated_at);
      q->bind(4, r.instance_id);
      q->exec();
    }
    const std::int64_t revision = log_change(r.instance_id, ip_before);
    tx.commit();
    wrote_revision(revision);
    return r;
  });
}

void SqliteStore::write_instances(const std::vector<InstanceRecord>& records) {
  check_write_batch(records);
  // One transaction (a savepoint inside another): SQLite is in this process, so a statement
  // per record costs no round trip, and the single writes' checks and change log serve as they
  // are.
  transaction([&] {
    for (const auto& record : records) {
      if (instance_exists(record.instance_id)) {
        update_instance(record);
      } else {
        insert_instance(record);
      }
    }
  });
}

// The listing's statements steer SQLite to their indexes by their shape (instance_listing_sql);
// statistics (sqlite_stat1, made by ANALYZE) would let it second-guess them, so none are kept.
void SqliteStore::update_planner_statistics() {}

bool SqliteStore::delete_instance(std::string_view instance_id) {
  std::lock_guard lock(mutex_);
  return guarded("deleting instance " + std::string(instance_id), [&] {
    WriteTransaction tx(db_);
    const std::string id(instance_id);
    std::optional<std::string> ip_before;
    {
      Query q(statement(kDeleteInstance));
      q->bind(1, id);
      if (q->executeStep()) ip_before = q->getColumn(0).getString();
    }
    if (!ip_before) return false;  // nothing changed: no revision bump (rolled back)
    const std::int64_t revision = log_change(id, *ip_before);
    tx.commit();
    wrote_revision(revision);
    return true;
  });
}

void SqliteStore::transaction(const std::function<void()>& body) {
  std::lock_guard lock(mutex_);
  try {
    guarded("running a transaction", [&] {
      WriteTransaction tx(db_);
      body();
      tx.commit();
    });
  } catch (...) {
    // The body's writes set the cached revision to values that were rolled back.
    revision_known_ = false;
    throw;
  }
}

std::int64_t SqliteStore::revision() {
  std::lock_guard lock(mutex_);
  return guarded("reading the revision", [&] {
    std::int64_t data_version = 0;
    {
      Query q(statement(kDataVersion));
      q->executeStep();
      data_version = q->getColumn(0).getInt64();
    }
    if (!revision_known_ || data_version != data_version_) {
      Query q(statement(kReadRevision));
      if (!q->executeStep()) {
        throw StoreError(Kind::kCorrupt, "the instance_revision row is missing");
      }
      revision_ = q->getColumn(0).getInt64();
      data_version_ = data_version;
      revision_known_ = true;
    }
    return revision_;
  });
}

InstanceChanges SqliteStore::instance_changes_since(std::int64_t since, std::size_t limit) {
  std::lock_guard lock(mutex_);
  return guarded("reading the change log", [&] {
    InstanceChanges out;
    ReadTransaction tx(db_);
    {
      Query q(statement(kReadRevision));
      if (!q->executeStep()) {
        throw StoreError(Kind::kCorrupt, "the instance_revision row is missing");
      }
      out.revision = q->getColumn(0).getInt64();
    }
    if (out.revision == since) return out;
    if (out.revision < since || since < 0) {
      out.status = InstanceChanges::Status::kGap;
      return out;
    }
    {
      Query q(statement(kCountChanges));
      q->bind(1, since);
      q->bind(2, out.revision);
      q->executeStep();
      // Every revision bumped by this version has change rows: one without is a pruned one, or
      // was written around the log (an older version, a hand edit).
      if (q->getColumn(1).getInt64() != out.revision - since) {
        out.status = InstanceChanges::Status::kGap;
        return out;
      }
      if (static_cast<std::uint64_t>(q->getColumn(0).getInt64()) > limit) {
        out.status = InstanceChanges::Status::kTooMany;
        return out;
      }
    }
    Query q(statement(kChangedInstances));
    q->bind(1, since);
    q->bind(2, out.revision);
    while (q->executeStep()) {
      InstanceChange& change = out.changes.emplace_back();
      change.instance_id = q->getColumn(0).getString();
      change.ip_before = q->getColumn(1).getString();
      if (q->getColumn(2).getInt() != 0) {
        change.row = StoredRow{change.instance_id, q->getColumn(3).getString(),
                               q->getColumn(4).getString(), q->getColumn(5).getString(),
                               q->getColumn(6).getString()};
      }
    }
    return out;
  });
}

std::size_t SqliteStore::prune_instance_changes(std::int64_t before_unix_s, std::size_t limit) {
  std::lock_guard lock(mutex_);
  return guarded("pruning the change log", [&] {
    Query q(statement(kPruneChanges));
    q->bind(1, before_unix_s);
    q->bind(2, static_cast<std::int64_t>(limit));
    return static_cast<std::size_t>(q->exec());
  });
}

User SqliteStore::create_user(const User& user) {
  std::lock_guard lock(mutex_);
  if (user.username.empty()) throw StoreError(Kind::kInvalid, "username must not be empty");
  return guarded("creating user " + user.username, [&] {
    WriteTransaction tx(db_);
    {
      Query q(statement(kUserExists));
      q->bind(1, user.username);
      if (q->executeStep()) {
        throw StoreError(Kind::kConflict, "username " + user.username + " already exists");
      }
    }
    User out = user;
    out.created_at = now_utc();
    {
      Query q(statement(kInsertUser));
      q->bind(1, out.username);
      q->bind(2, out.email);
      q->bind(3, out.password_hash);
      q->bind(4, out.created_at);
      q->exec();
    }
    out.id = db_.getLastInsertRowid();
    tx.commit();
    return out;
  });
}

std::optional<User> SqliteStore::find_user(std::string_view username) {
  std::lock_guard lock(mutex_);
  return guarded("reading users", [&]() -> std::optional<User> {
    Query q(statement(kFindUser));
    q->bind(1, std::string(username));
    if (!q->executeStep()) return std::nullopt;
    return user_from_row(*q);
  });
}

std::vector<User> SqliteStore::list_users() {
  std::lock_guard lock(mutex_);
  return guarded("reading users", [&] {
    std::vector<User> out;
    Query q(statement(kListUsers));
    while (q->executeStep()) out.push_back(user_from_row(*q));
    return out;
  });
}

bool SqliteStore::set_password_hash(std::string_view username, std::string_view password_hash) {
  std::lock_guard lock(mutex_);
  return guarded("setting a password", [&] {
    Query q(statement(kSetPasswordHash));
    q->bind(1, std::string(password_hash));
    q->bind(2, std::string(username));
    return q->exec() > 0;
  });
}

ApiToken SqliteStore::create_api_token(const ApiToken& token) {
  std::lock_guard lock(mutex_);
  if (token.name.empty()) throw StoreError(Kind::kInvalid, "token name must not be empty");
  return guarded("creating API token " + token.name, [&] {
    WriteTransaction tx(db_);
    {
      Query q(statement(kTokenNameExists));
      q->bind(1, token.name);
      if (q->executeStep()) {
        throw StoreError(Kind::kConflict, "API token name " + token.name + " already exists");
      }
    }
    {
      Query q(statement(kTokenHashExists));
      q->bind(1, token.token_hash);
      if (q->executeStep()) {
        throw StoreError(Kind::kConflict, "token_hash is already registered to another token");
      }
    }
    ApiToken out = token;
    out.created_at = now_utc();
    out.last_used_at.clear();
    {
      Query q(statement(kInsertToken));
      q->bind(1, out.name);
      q->bind(2, out.token_hash);
      q->bind(3, out.prefix);
      q->bind(4, out.created_at);
      q->exec();
    }
    out.id = db_.getLastInsertRowid();
    tx.commit();
    return out;
  });
}

std::vector<ApiToken> SqliteStore::list_api_tokens() {
  std::lock_guard lock(mutex_);
  return guarded("reading API tokens", [&] {
    std::vector<ApiToken> out;
    Query q(statement(kListTokens));
    while (q->executeStep()) out.push_back(token_from_row(*q));
    return out;
  });
}

std::optional<ApiToken> SqliteStore::find_api_token_by_hash(std::string_view token_hash) {
  std::lock_guard lock(mutex_);
  return guarded("reading API tokens", [&]() -> std::optional<ApiToken> {
    Query q(statement(kFindTokenByHash));
    q->bind(1, std::string(token_hash));
    if (!q->executeStep()) return std::nullopt;
    return token_from_row(*q);
  });
}

bool SqliteStore::revoke_api_token(std::string_view name) {
  std::lock_guard lock(mutex_);
  return guarded("revoking API token " + std::string(name), [&] {
    Query q(statement(kRevokeToken));
    q->bind(1, std::string(name));
    return q->exec() > 0;
  });
}

void SqliteStore::touch_api_token(std::int64_t id, std::string_view at) {
  std::lock_guard lock(mutex_);
  guarded("recording API token use", [&] {
    Query q(statement(kTouchToken));
    q->bind(1, std::string(at));
    q->bind(2, id);
    q->exec();
  });
}

std::string SqliteStore::get_or_create_setting(std::string_view key, std::string_view value) {
  std::lock_guard lock(mutex_);
  return guarded("writing setting " + std::string(key), [&] {
    WriteTransaction tx(db_);
    {
      Query q(statement(kInsertSettingOnce));
      q->bind(1, std::string(key));
      q->bind(2, std::string(value));
      q->exec();
    }
    std::string stored;
    {
      Query q(statement(kGetSetting));
      q->bind(1, std::string(key));
      if (!q->executeStep()) throw StoreError(Kind::kCorrupt, "setting vanished after insert");
      stored = q->getColumn(0).getString();
    }
    tx.commit();
    return stored;
  });
}

std::optional<std::string> SqliteStore::get_setting(std::string_view key) {
  std::lock_guard lock(mutex_);
  return guarded("reading setting " + std::string(key), [&]() -> std::optional<std::string> {
    Query q(statement(kGetSetting));
    q->bind(1, std::string(key));
    if (!q->executeStep()) return std::nullopt;
    return q->getColumn(0).getString();
  });
}

bool SqliteStore::replace_setting(std::string_view key, std::string_view expected,
                                  std::string_view value) {
  std::lock_guard lock(mutex_);
  return guarded("writing setting " + std::string(key), [&] {
    WriteTransaction tx(db_);
    int changed = 0;
    {
      Query q(statement(kReplaceSetting));
      q->bind(1, std::string(key));
      q->bind(2, std::string(expected));
      q->bind(3, std::string(value));
      changed = q->exec();
    }
    tx.commit();
    return changed == 1;
  });
}

void SqliteStore::create_admin_session(const AdminSession& session, std::int64_t now) {
  std::lock_guard lock(mutex_);
  guarded("creating an admin session", [&] {
    WriteTransaction tx(db_);
    {
      Query q(statement(kDeleteExpiredSessions));
      q->bind(1, static_cast<std::int64_t>(now));
      q->exec();
    }
    {
      Query q(statement(kInsertSession));
      q->bind(1, session.id_hash);
      q->bind(2, session.username);
      q->bind(3, session.peer);
      q->bind(4, now_utc());
      q->bind(5, static_cast<std::int64_t>(session.expires_at));
      q->exec();
    }
    tx.commit();
  });
}

std::optional<AdminSession> SqliteStore::find_admin_session(std::string_view id_hash) {
  std::lock_guard lock(mutex_);
  return guarded("reading admin sessions", [&]() -> std::optional<AdminSession> {
    Query q(statement(kFindSession));
    q->bind(1, std::string(id_hash));
    if (!q->executeStep()) return std::nullopt;
    return AdminSession{q->getColumn(0).getString(), q->getColumn(1).getString(),
                        q->getColumn(2).getString(), q->getColumn(3).getString(),
                        q->getColumn(4).getInt64()};
  });
}

bool SqliteStore::delete_admin_session(std::string_view id_hash) {
  std::lock_guard lock(mutex_);
  return guarded("deleting an admin session", [&] {
    Query q(statement(kDeleteSession));
    q->bind(1, std::string(id_hash));
    return q->exec() > 0;
  });
}

std::size_t SqliteStore::delete_admin_sessions_of(std::string_view username,
                                                  std::string_view keep) {
  std::lock_guard lock(mutex_);
  return guarded("ending the admin sessions of " + std::string(username), [&] {
    Query q(statement(kDeleteSessionsOf));
    q->bind(1, std::string(username));
    q->bind(2, std::string(keep));
    return static_cast<std::size_t>(q->exec());
  });
}

AuditEntry SqliteStore::append_audit(const AuditEntry& entry) {
  std::lock_guard lock(mutex_);
  try {
    return append_audit_locked(entry);
  } catch (const StoreError& e) {
    // A constraint (or a trigger's RAISE) on the audit log is no client's conflict: the log
    // cannot take entries, a fault of the server's (Postgres reports it as kCorrupt too).
    if (e.kind() != Kind::kConflict) throw;
    throw StoreError(Kind::kCorrupt, e.what());
  }
}

AuditEntry SqliteStore::append_audit_locked(const AuditEntry& entry) {
  return guarded("appending to the audit log", [&] {
    AuditEntry out = entry;
    out.at = now_utc();
    Query q(statement(kInsertAudit));
    q->bind(1, out.at);
    q->bind(2, out.actor);
    q->bind(3, out.peer);
    q->bind(4, out.action);
    q->bind(5, out.instance_id);
    q->bind(6, out.fields);
    q->bind(7, out.before);
    q->bind(8, out.after);
    q->exec();
    out.id = db_.getLastInsertRowid();
    return out;
  });
}

std::vector<AuditEntry> SqliteStore::list_audit(const AuditQuery& query) {
  std::lock_guard lock(mutex_);
  return guarded("reading the audit log", [&] {
    Query q(statement(kListAudit));
    q->bind(1, query.instance_id);
    q->bind(2, query.actor);
    q->bind(3, query.since);
    q->bind(4, static_cast<std::int64_t>(query.before_id));
    q->bind(5, query.limit);
    std::vector<AuditEntry> out;
    while (q->executeStep()) {
      out.push_back(AuditEntry{q->getColumn(0).getInt64(), q->getColumn(1).getString(),
                               q->getColumn(2).getString(), q->getColumn(3).getString(),
                               q->getColumn(4).getString(), q->getColumn(5).getString(),
                               q->getColumn(6).getString(), q->getColumn(7).getString(),
                               q->getColumn(8).getString()});
    }
    return out;
  });
}

// ---- the admin listing (cloudmeta/instance_listing.hpp) ----

namespace {

// As Query, for a statement that listing_statement() has bound already: reset on exit only.
class Bound {
 public:
  explicit Bound(SQLite::Statement& s) : s_(s) {}
  ~Bound() { s_.tryReset(); }
  Bound(const Bound&) = delete;
  Bound& operator=(const Bound&) = delete;
  SQLite::Statement* operator->() { return &s_; }
  SQLite::Statement& operator*() { return s_; }

 private:
  SQLite::Statement& s_;
};

}  // namespace

SQLite::Statement& SqliteStore::listing_statement(const SqlStatement& statement) {
  // The texts vary only with a query's shape (instance_listing_sql.hpp): few, each prepared once.
  // Bounded all the same, as a guard against a shape this comment did not foresee.
  if (listing_statements_.size() >= 256) listing_statements_.clear();
  auto& slot = listing_statements_[statement.sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(db_, statement.sql);
  SQLite::Statement& q = *slot;
  q.tryReset();
  q.clearBindings();
  int index = 1;
  for (const auto& param : statement.params) {
    if (const auto* text = std::get_if<std::string>(&param)) {
      q.bind(index++, *text);
    } else {
      q.bind(index++, static_cast<std::int64_t>(std::get<std::int64_t>(param)));
    }
  }
  return q;
}

std::vector<InstanceKey> SqliteStore::list_instance_keys(const InstanceKeysQuery& query) {
  std::lock_guard lock(mutex_);
  return guarded("listing instances", [&] {
    Bound q(listing_statement(instance_keys_sql(SqlDialect::kSqlite, query)));
    std::vector<InstanceKey> out;
    while (q->executeStep()) {
      out.push_back({{q->getColumn(0).getString(), q->getColumn(1).getString()},
                     q->getColumn(2).getString(),
                     q->getColumn(3).getInt() != 0});
    }
    return out;
  });
}

InstanceCount SqliteStore::count_instances(const InstanceFilter& filter, std::size_t at_most) {
  std::lock_guard lock(mutex_);
  return guarded("counting instances", [&] {
    return count_instances_with(SqlDialect::kSqlite, filter, at_most,
                                [this](const SqlStatement& statement) {
                                  Bound q(listing_statement(statement));
                                  q->executeStep();
                                  return static_cast<std::size_t>(q->getColumn(0).getInt64());
                                });
  });
}

InstanceTotal SqliteStore::instance_total() {
  // Exact: count(*) reads the smallest index once (tens of ms at a million rows,
  // docs/benchmarks.md), so it is counted again only when an instance write (of any process)
  // moved the revision; max(rowid) would be cheaper but grows with every insert ever made.
  std::lock_guard lock(mutex_);
  // Inside a transaction the revision may yet be rolled back: counted, never kept.
  const bool committed = sqlite3_get_autocommit(db_.getHandle()) != 0;
  const std::int64_t now = revision();
  if (committed && now == total_revision_) return total_;
  return guarded("counting instances", [&] {
    Query q(statement(kCountInstances));
    q->executeStep();
    const InstanceTotal total{static_cast<std::size_t>(q->getColumn(0).getInt64()), true};
    if (committed) {
      total_ = total;
      total_revision_ = now;
    }
    return total;
  });
}


}  // namespace cloudmeta::store
