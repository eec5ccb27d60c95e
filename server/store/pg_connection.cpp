#include "pg_connection.hpp"

#include <charconv>
#include <string>
#include <vector>

namespace cloudmeta::store {
namespace {

using Kind = StoreError::Kind;

// libpq's messages are multi-line ("...\nDETAIL: ...\n"): one line reads better in a log.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return text;
}

std::string scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// Which StoreError a SQLSTATE becomes. Classes 08 (connection), 53 (resources), 57 (operator
// intervention: shutdown, crash recovery), 40 (serialization, deadlock) are transient and worth
// a retry, hence kUnavailable; data corruption is kCorrupt; everything else is a bug or a schema
// mismatch, also kCorrupt (a 500, not a 503).
Kind kind_of(const std::string& sqlstate) {
  if (sqlstate == "23505") return Kind::kConflict;
  const std::string cls = sqlstate.substr(0, 2);
  if (cls == "23" || cls == "22") return Kind::kInvalid;
  if (cls == "08" || cls == "53" || cls == "57" || cls == "40") return Kind::kUnavailable;
  return Kind::kCorrupt;
}

// Postgres's primary message may quote a value for data errors (class 22, 23). Only classes whose
// messages name server state or schema objects are passed on; the SQLSTATE always is.
bool message_is_safe(const std::string& sqlstate) {
  const std::string cls = sqlstate.substr(0, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "40" || cls == "42";
}

std::string field(const PGresult* result, int code) {
  const char* value = PQresultErrorField(result, code);
  return value ? value : "";
}

// Notices ("relation already exists, skipping") would go to stderr by default.
void ignore_notice(void*, const char*) {}

}  // namespace

std::string PgRows::text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::int64_t PgRows::integer(int row, int column) const {
  const std::string value = text(row, column);
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw StoreError(Kind::kCorrupt, "database returned a non-integer where a number was expected");
  }
  return out;
}

PgConnection::PgConnection(const std::string& url) {
  char* parse_error = nullptr;
  PgConninfoHandle options(PQconninfoParse(url.c_str(), &parse_error));
  if (!options) {
    // The parser's message may quote the offending part of the URL, which can hold the password,
    // and there is no parsed password to scrub yet: say only that it failed.
    PQfreemem(parse_error);
    throw StoreError(Kind::kInvalid,
                     "invalid DATABASE_URL for PostgreSQL (libpq cannot parse its parameters)");
  }
  for (auto* o = options.get(); o->keyword; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val) password_ = o->val;
  }
  // Keywords before "dbname" are defaults that the URL overrides (expand_dbname): an unreachable
  // host fails after connect_timeout instead of the kernel's minutes-long TCP timeout.
  const char* keywords[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                            nullptr};
  const char* values[] = {"10", "cloudmeta", "UTF8", url.c_str(), nullptr};
  conn_.reset(PQconnectdbParams(keywords, values, 1));
  if (!conn_) throw StoreError(Kind::kUnavailable, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    throw_connection_error(Kind::kUnavailable, "cannot connect to PostgreSQL");
  }
  PQsetNoticeProcessor(conn_.get(), ignore_notice, nullptr);
}

void PgConnection::throw_connection_error(Kind kind, const std::string& what) const {
  std::string detail = one_line(PQerrorMessage(conn_.get()));
  detail = scrub(std::move(detail), password_);
  throw PgError(kind, detail.empty() ? what : what + ": " + detail, "", "");
}

// After the server restarted or the network broke, libpq marks the connection bad on the first
// failed statement; the next use outside a transaction opens it again (a transaction in flight
// was rolled back by the server and cannot be resumed).
void PgConnection::reconnect_if_lost() {
  if (PQstatus(conn_.get()) == CONNECTION_OK) return;
  in_transaction_ = false;
  prepared_.clear();
  PQreset(conn_.get());
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    throw_connection_error(Kind::kUnavailable, "PostgreSQL unavailable");
  }
}

PgRows PgConnection::check(PgResultHandle result) {
  const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgRows(std::move(result));
  const std::string sqlstate = result ? field(result.get(), PG_DIAG_SQLSTATE) : "";
  if (sqlstate.empty() || PQstatus(conn_.get()) != CONNECTION_OK) {
    in_transaction_ = false;
    throw_connection_error(Kind::kUnavailable, "lost the connection to PostgreSQL");
  }
  if (sqlstate == "42P01") {  // undefined_table
    throw PgError(Kind::kCorrupt, "the database has no schema yet; run `cloudmeta migrate`",
                  sqlstate, "");
  }
  std::string message = "database error (SQLSTATE " + sqlstate + ")";
  if (message_is_safe(sqlstate)) {
    message += ": " + scrub(one_line(field(result.get(), PG_DIAG_MESSAGE_PRIMARY)), password_);
  }
  throw PgError(kind_of(sqlstate), message, sqlstate, field(result.get(), PG_DIAG_CONSTRAINT_NAME));
}

PgRows PgConnection::exec(const char* sql, std::initializer_list<PgParam> params) {
  if (!in_transaction_) reconnect_if_lost();
  return run(sql, params);
}

PgRows PgConnection::run(const char* sql, std::initializer_list<PgParam> params) {
  // Text-format parameters must be NUL-terminated; string_views need not be.
  std::vector<std::string> owned;
  owned.reserve(params.size());
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    if (p) {
      owned.emplace_back(*p);
      values.push_back(owned.back().c_str());
    } else {
      values.push_back(nullptr);
    }
  }
  const std::string& name = prepared_name(sql, static_cast<int>(values.size()));
  return check(PgResultHandle(PQexecPrepared(conn_.get(), name.c_str(),
                                             static_cast<int>(values.size()), values.data(),
                                             nullptr, nullptr, 0)));
}

// Each distinct statement is prepared once per connection (parsed and planned once) and then
// executed with bound values. PQreset starts a new session, which forgets them: see
// reconnect_if_lost.
const std::string& PgConnection::prepared_name(const char* sql, int parameter_count) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  std::string name = "cloudmeta_" + std::to_string(prepared_.size() + 1);
  check(PgResultHandle(PQprepare(conn_.get(), name.c_str(), sql, parameter_count, nullptr)));
  return prepared_.emplace(sql, std::move(name)).first->second;
}

void PgConnection::run_simple(const char* sql) { check(PgResultHandle(PQexec(conn_.get(), sql))); }

void PgConnection::exec_script(const std::string& sql) {
  if (!in_transaction_) reconnect_if_lost();
  check(PgResultHandle(PQexec(conn_.get(), sql.c_str())));
}

void PgConnection::begin() {
  if (in_transaction_) {
    // One name serves every level: Postgres resolves a savepoint name to the newest one.
    run_simple("SAVEPOINT cloudmeta_nested");
    ++savepoints_;
    return;
  }
  reconnect_if_lost();
  run_simple("BEGIN");
  in_transaction_ = true;
  savepoints_ = 0;
}

// Never reconnects: a COMMIT on a fresh connection would "succeed" outside any transaction
// while the real one was lost. A failure here leaves the outcome unknown, reported as kUnavailable.
void PgConnection::commit() {
  if (in_transaction_ && savepoints_ > 0) {
    --savepoints_;
    run_simple("RELEASE SAVEPOINT cloudmeta_nested");
    return;
  }
  in_transaction_ = false;
  run_simple("COMMIT");
}

void PgConnection::rollback() noexcept {
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    in_transaction_ = false;
    return;
  }
  if (in_transaction_ && savepoints_ > 0) {
    --savepoints_;
    PgResultHandle undone(PQexec(conn_.get(), "ROLLBACK TO SAVEPOINT cloudmeta_nested"));
    PgResultHandle released(PQexec(conn_.get(), "RELEASE SAVEPOINT cloudmeta_nested"));
    return;
  }
  in_transaction_ = false;
  PgResultHandle ignored(PQexec(conn_.get(), "ROLLBACK"));
}

bool PgConnection::reusable() const {
  return !in_transaction_ && PQstatus(conn_.get()) == CONNECTION_OK;
}

}  // namespace cloudmeta::store
