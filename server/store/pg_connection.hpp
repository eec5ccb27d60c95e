// One libpq connection: opened from a DATABASE_URL, statements prepared once per connection and
// run with bound parameters only (PQprepare/PQexecPrepared; values never enter the SQL text),
// failures mapped to StoreError. Private to server/store. Not thread-safe: a PGconn must not be
// shared between threads, so PgPool lends each connection to one thread at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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
  std::int64_t integer(int row, int column) const;  // kCorrupt if not an integer

 private:
  PgResultHandle result_;
};

using PgParam = std::optional<std::string_view>;  // nullopt binds SQL NULL

class PgConnection {
 public:
  // kInvalid when libpq cannot parse the URL, kUnavailable when the server cannot be reached or
  // refuses us. The URL's parameters (sslmode, sslrootcert, connect_timeout, options, ...) go to
  // libpq unchanged. Messages never contain the password.
  explicit PgConnection(const std::string& url);

  PgRows exec(const char* sql, std::initializer_list<PgParam> params = {});
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

 private:
  void reconnect_if_lost();
  PgRows run(const char* sql, std::initializer_list<PgParam> params);
  const std::string& prepared_name(const char* sql, int parameter_count);
  void run_simple(const char* sql);  // transaction control: not worth preparing
  PgRows check(PgResultHandle result);
  [[noreturn]] void throw_connection_error(StoreError::Kind kind, const std::string& what) const;

  PgConnHandle conn_;
  std::string password_;  // kept only to scrub it from libpq's messages
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
