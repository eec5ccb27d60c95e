#include "pg_connection.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
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
  // read_only_sql_transaction: a standby, or default_transaction_read_only; reads still work.
  if (sqlstate == "25006") return Kind::kReadOnly;
  const std::string cls = sqlstate.substr(0, 2);
  if (cls == "23" || cls == "22") return Kind::kInvalid;
  if (cls == "08" || cls == "53" || cls == "57" || cls == "40") return Kind::kUnavailable;
  return Kind::kCorrupt;
}

// Postgres's primary message may quote a value for data errors (class 22, 23). Only classes whose
// messages name server state or schema objects are passed on; the SQLSTATE always is.
bool message_is_safe(const std::string& sqlstate) {
  const std::string cls = sqlstate.substr(0, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "40" || cls == "42" ||
         sqlstate == "25006";
}

std::string field(const PGresult* result, int code) {
  const char* value = PQresultErrorField(result, code);
  return value ? value : "";
}

// Notices ("relation already exists, skipping") would go to stderr by default.
void ignore_notice(void*, const char*) {}

}  // namespace

std::string PgRows::text(int row, int column) const { return std::string(view(row, column)); }

std::string_view PgRows::view(int row, int column) const {
  return {PQgetvalue(result_.get(), row, column),
          static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t PgRows::integer(int row, int column) const {
  const std::string_view value = view(row, column);
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw StoreError(Kind::kCorrupt, "database returned a non-integer where a number was expected");
  }
  return out;
}

PgConnection::PgConnection(const std::string& url, std::chrono::milliseconds timeout)
    : url_(url), timeout_(std::max(timeout, std::chrono::milliseconds(1))) {
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
  open();
}

// PQconnectPoll ignores connect_timeout (only libpq's blocking calls honour it), so the attempt is
// bounded here, as a whole: the TCP handshake, TLS and authentication.
void PgConnection::open() {
  using namespace std::chrono;
  const long long ms = timeout_.count();
  const std::string seconds = std::to_string(std::max<long long>(1, (ms + 999) / 1000));
  const std::string user_timeout = std::to_string(ms);
  // The server gives up on a statement, and on a transaction left idle (a client that vanished
  // mid-transaction would otherwise keep its row locks, e.g. the revision row every host's
  // writes need, until the server's own keepalive notices, hours later). The statement's bound
  // is a fifth shorter than ours, so that a live server's cancel (a clear error, and a connection
  // still fit to reuse) arrives before we give up on the socket.
  const std::string server_side =
      "-c statement_timeout=" + std::to_string(std::max(1LL, ms * 4 / 5)) +
      " -c idle_in_transaction_session_timeout=" + std::to_string(2 * ms);
  // Keywords before "dbname" are defaults that the URL overrides (expand_dbname).
  const char* keywords[] = {"application_name", "client_encoding",    "keepalives",
                            "keepalives_idle",  "keepalives_interval", "keepalives_count",
                            "tcp_user_timeout", "options",             "dbname",
                            nullptr};
  const char* values[] = {"cloudmeta",          "UTF8", "1", seconds.c_str(), "1", "3",
                          user_timeout.c_str(), server_side.c_str(), url_.c_str(), nullptr};
  timed_out_ = false;
  conn_.reset(PQconnectStartParams(keywords, values, 1));
  if (!conn_) throw StoreError(Kind::kUnavailable, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(conn_.get()) == CONNECTION_BAD) {
    throw_connection_error(Kind::kUnavailable, "cannot connect to PostgreSQL");
  }
  const auto deadline = steady_clock::now() + timeout_;
  auto status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) {
      throw_connection_error(Kind::kUnavailable, "cannot connect to PostgreSQL");
    }
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    pollfd watched{PQsocket(conn_.get()),
                   static_cast<short>(status == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    int ready = 0;
    if (left > 0) {
      do {
        ready = ::poll(&watched, 1, static_cast<int>(left));
      } while (ready < 0 && errno == EINTR);
    }
    if (ready == 0) {
      conn_.reset();
      timed_out_ = true;
      throw PgError(Kind::kUnavailable,
                    "cannot connect to PostgreSQL: no answer within " + user_timeout +
                        " ms (DATABASE_TIMEOUT_MS)",
                    "", "");
    }
    // An error or hang-up on the socket is for PQconnectPoll to report (or to try the next
    // address of the host).
    status = PQconnectPoll(conn_.get());
  }
  if (PQsetnonblocking(conn_.get(), 1) != 0) {
    throw_connection_error(Kind::kUnavailable, "cannot connect to PostgreSQL");
  }
  PQsetNoticeProcessor(conn_.get(), ignore_notice, nullptr);
}

void PgConnection::throw_connection_error(Kind kind, const std::string& what) const {
  std::string detail = conn_ ? one_line(PQerrorMessage(conn_.get())) : "";
  detail = scrub(std::move(detail), password_);
  throw PgError(kind, detail.empty() ? what : what + ": " + detail, "", "");
}

// After the server restarted, the network broke or a wait timed out, the connection is marked bad
// (or closed); the next use outside a transaction opens it again (a transaction in flight was
// rolled back by the server and cannot be resumed).
void PgConnection::reconnect_if_lost() {
  if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return;
  in_transaction_ = false;
  savepoints_ = 0;
  prepared_.clear();
  open();
}

bool PgConnection::wait_socket(short events) {
  pollfd watched{PQsocket(conn_.get()), events, 0};
  if (watched.fd < 0) return true;  // libpq dropped it: its next call reports why
  const int wait_ms = patient_ ? -1 : static_cast<int>(timeout_.count());
  int ready = 0;
  do {
    ready = ::poll(&watched, 1, wait_ms);
  } while (ready < 0 && errno == EINTR);
  return ready != 0;
}

void PgConnection::give_up() {
  conn_.reset();  // non-blocking: PQfinish's goodbye never waits for the silent server
  in_transaction_ = false;
  savepoints_ = 0;
  prepared_.clear();
  timed_out_ = true;
  throw PgError(Kind::kUnavailable,
                "PostgreSQL did not answer within " + std::to_string(timeout_.count()) +
                    " ms (DATABASE_TIMEOUT_MS); connection closed",
                "", "");
}

PgResultHandle PgConnection::await_result(int sent) {
  PGconn* conn = conn_.get();
  if (!sent) {
    in_transaction_ = false;
    throw_connection_error(Kind::kUnavailable, "lost the connection to PostgreSQL");
  }
  // Non-blocking: the query may sit in libpq's buffer until the socket takes it. Reading while
  // waiting to write keeps a server that is sending (notices) from deadlocking with us.
  for (;;) {
    const int flushed = PQflush(conn);
    if (flushed == 0) break;
    if (flushed < 0) {
      in_transaction_ = false;
      throw_connection_error(Kind::kUnavailable, "lost the connection to PostgreSQL");
    }
    if (!wait_socket(POLLIN | POLLOUT)) give_up();
    if (!PQconsumeInput(conn)) {
      in_transaction_ = false;
      throw_connection_error(Kind::kUnavailable, "lost the connection to PostgreSQL");
    }
  }
  PgResultHandle failed;
  PgResultHandle last;
  for (;;) {
    while (PQisBusy(conn)) {
      if (!wait_socket(POLLIN)) give_up();
      if (!PQconsumeInput(conn)) {
        in_transaction_ = false;
        throw_connection_error(Kind::kUnavailable, "lost the connection to PostgreSQL");
      }
    }
    PgResultHandle result(PQgetResult(conn));  // does not block once PQisBusy said so
    if (!result) break;
    const auto status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !failed) {
      failed = std::move(result);
    } else {
      last = std::move(result);
    }
  }
  return failed ? std::move(failed) : std::move(last);
}

PgRows PgConnection::check(PgResultHandle result) {
  const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgRows(std::move(result));
  const std::string sqlstate = result ? field(result.get(), PG_DIAG_SQLSTATE) : "";
  if (sqlstate.empty() || !conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
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
  return run(sql, params.begin(), params.size());
}

PgRows PgConnection::exec(const char* sql, const std::vector<PgParam>& params) {
  if (!in_transaction_) reconnect_if_lost();
  return run(sql, params.data(), params.size());
}

PgRows PgConnection::run(const char* sql, const PgParam* params, std::size_t count) {
  // Text-format parameters must be NUL-terminated; string_views need not be.
  std::vector<std::string> owned;
  owned.reserve(count);
  std::vector<const char*> values;
  values.reserve(count);
  for (const PgParam* it = params; it != params + count; ++it) {
    const PgParam& p = *it;
    if (p) {
      owned.emplace_back(*p);
      values.push_back(owned.back().c_str());
    } else {
      values.push_back(nullptr);
    }
  }
  const std::string& name = prepared_name(sql, static_cast<int>(values.size()));
  return check(await_result(PQsendQueryPrepared(conn_.get(), name.c_str(),
                                                static_cast<int>(values.size()), values.data(),
                                                nullptr, nullptr, 0)));
}

// Each distinct statement is prepared once per connection (parsed and planned once) and then
// executed with bound values. PQreset starts a new session, which forgets them: see
// reconnect_if_lost.
const std::string& PgConnection::prepared_name(const char* sql, int parameter_count) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  // The admin listing's texts vary with the shape of a query (instance_listing_sql.hpp): bounded,
  // but by more than the server should hold per session; past this many, start again.
  constexpr std::size_t kMaxPrepared = 256;
  if (prepared_.size() >= kMaxPrepared) {
    run_simple("DEALLOCATE ALL");
    prepared_.clear();
  }
  std::string name = "cloudmeta_" + std::to_string(prepared_.size() + 1);
  check(await_result(PQsendPrepare(conn_.get(), name.c_str(), sql, parameter_count, nullptr)));
  return prepared_.emplace(sql, std::move(name)).first->second;
}

void PgConnection::run_simple(const char* sql) {
  check(await_result(PQsendQuery(conn_.get(), sql)));
}

void PgConnection::exec_script(const std::string& sql) {
  if (!in_transaction_) reconnect_if_lost();
  check(await_result(PQsendQuery(conn_.get(), sql.c_str())));
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
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    in_transaction_ = false;
    savepoints_ = 0;
    return;
  }
  // Bounded like every other statement; a failure leaves the connection unfit to lend (the
  // server rolls back a transaction whose connection is gone).
  try {
    if (in_transaction_ && savepoints_ > 0) {
      --savepoints_;
      PgResultHandle undone(await_result(
          PQsendQuery(conn_.get(), "ROLLBACK TO SAVEPOINT cloudmeta_nested")));
      PgResultHandle released(
          await_result(PQsendQuery(conn_.get(), "RELEASE SAVEPOINT cloudmeta_nested")));
      return;
    }
    in_transaction_ = false;
    PgResultHandle ignored(await_result(PQsendQuery(conn_.get(), "ROLLBACK")));
  } catch (const StoreError&) {
    in_transaction_ = false;
  }
}

bool PgConnection::reusable() const {
  return conn_ && !in_transaction_ && PQstatus(conn_.get()) == CONNECTION_OK;
}

}  // namespace cloudmeta::store
