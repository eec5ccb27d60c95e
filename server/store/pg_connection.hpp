// One libpq connection: opened from a DATABASE_URL, statements prepared once per connection and
// run with bound parameters only (PQprepare/PQexecPrepared; values never enter the SQL text),
// failures mapped to StoreError. Private to server/store. Not thread-safe: a PGconn must not be
// shared between threads, so PgPool lends each connection to one thread at a time.
//
// Every wait on the server is bounded by `timeout` (DATABASE_TIMEOUT_MS): libpq runs
// non-blocking and this class poll()s its socket with a deadline, to connect (the whole attempt)
// and between the bytes of an answer (so a fleet-sized scan that streams for longer is not cut).
// A database host that stops answering (packets dropped, not refused) would otherwise hold the
// calling thread until TCP gives up, minutes later. Past the bound the connection is closed (its
// protocol state is unknown) and the call fails with kUnavailable. The server is told the bound
// too (statement_timeout, idle_in_transaction_session_timeout), so a session we gave up on does
// not keep its locks; TCP keepalives and tcp_user_timeout end waits that patient() leaves open.
// Not bounded: the host name lookup, which libpq does synchronously (use an address, or a local
// resolver, when that matters).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cloudmeta/store.hpp"
#include "pg_handle.hpp"

namespace cloudmeta::store {

// A StoreError that also carries what Postgres said, so a caller can tell which unique
// constraint a 23505 hit. sqlstate is empty for connection failures.
class PgError : public StoreError {
 public:
  PgError(Kind kind, const std::string& message, std::string sqlstate, std::string constraint)
      : StoreError(kind, message),
        sqlstate_(std::move(sqlstate)),
        constraint_(std::move(constraint)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  const std::string& constraint() const { return constraint_; }

 private:
  std::string sqlstate_;
  std::string constraint_;
};

// The rows of one successful statement, all columns in text format.
class PgRows {
 public:
  explicit PgRows(PgResultHandle result) : result_(std::move(result)) {}
  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const;      // "" for NULL
  std::string_view view(int row, int column) const;  // as text(), valid while these rows live
  std::int64_t integer(int row, int column) const;  // kCorrupt if not an integer

 private:
  PgResultHandle result_;
};

using PgParam = std::optional<std::string_view>;  // nullopt binds SQL NULL

class PgConnection {
 public:
  // kInvalid when libpq cannot parse the URL, kUnavailable when the server cannot be reached
  // within `timeout` or refuses us. The URL's parameters (sslmode, sslrootcert, keepalives,
  // options, ...) go to libpq unchanged and win over the defaults derived from `timeout`.
  // Messages never contain the password.
  PgConnection(const std::string& url, std::chrono::milliseconds timeout);

  PgRows exec(const char* sql, std::initializer_list<PgParam> params = {});
  PgRows exec(const char* sql, const std::vector<PgParam>& params);
  // Several statements, no parameters: for the embedded migrations only, never for values.
  void exec_script(const std::string& sql);

  // Transactions nest: begin() inside a transaction sets a savepoint, and the matching commit()
  // or rollback() releases it or rolls back to it, so a failed statement inside undoes only its
  // own part and leaves the outer transaction usable.
  void begin();
  void commit();
  void rollback() noexcept;

  // Fit to lend again: connected and outside any transaction. A connection that is not is
  // dropped by PgPool rather than handed to the next caller.
  bool reusable() const;
  // The server stayed silent past the bound and the connection was closed: PgPool then expects
  // the next connection attempt to fail too, and backs off.
  bool timed_out() const { return timed_out_; }

  // While one lives, waits on the server are not bounded by `timeout`, only by TCP (keepalives,
  // tcp_user_timeout: a vanished host still ends them): for migrations, which wait for another
  // host's on a lock and may rewrite a table. Set statement_timeout to 0 as well (SET LOCAL).
  class Patience {
   public:
    explicit Patience(PgConnection& connection) : connection_(connection) {
      connection_.patient_ = true;
    }
    ~Patience() { connection_.patient_ = false; }
    Patience(const Patience&) = delete;
    Patience& operator=(const Patience&) = delete;

   private:
    PgConnection& connection_;
  };

 private:
  void open();
  void reconnect_if_lost();
  PgRows run(const char* sql, const PgParam* params, std::size_t count);
  const std::string& prepared_name(const char* sql, int parameter_count);
  void run_simple(const char* sql);  // transaction control: not worth preparing
  // After a PQsend*: flushes, waits for the whole answer within the bound, returns its first
  // failed result (or the last one). Throws kUnavailable when the server is silent too long or
  // the connection breaks.
  PgResultHandle await_result(int sent);
  bool wait_socket(short events);  // false: silent past the bound (the connection is closed)
  [[noreturn]] void give_up();     // closes the connection; throws kUnavailable
  PgRows check(PgResultHandle result);
  [[noreturn]] void throw_connection_error(StoreError::Kind kind, const std::string& what) const;

  std::string url_;
  std::chrono::milliseconds timeout_;
  PgConnHandle conn_;  // null after give_up()
  std::string password_;  // kept only to scrub it from libpq's messages
  bool patient_ = false;
  bool timed_out_ = false;
  bool in_transaction_ = false;
  int savepoints_ = 0;  // open begin()s inside the transaction
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
};

// BEGIN now; ROLLBACK when left without commit() (an exception, an early return).
class PgTransaction {
 public:
  explicit PgTransaction(PgConnection& connection) : connection_(connection) {
    connection_.begin();
  }
  ~PgTransaction() {
    if (!done_) connection_.rollback();
  }
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  void commit() {
    connection_.commit();
    done_ = true;
  }

 private:
  PgConnection& connection_;
  bool done_ = false;
};

}  // namespace cloudmeta::store
