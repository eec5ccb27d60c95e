// PgPool: up to `size` PgConnections to one database, opened on first need, each lent to one
// thread at a time (a PGconn is not thread-safe). A connection keeps its prepared statements for
// as long as it lives, so a statement is parsed and planned once per connection, not per call.
// acquire() waits for a connection to come back when all are lent, at most `wait`, then throws
// StoreError kUnavailable (the admin API's 503): a stuck database or a leak surfaces as an error
// instead of an admin request that hangs. A connection given back broken (the server ended its
// session, or a transaction was left open) is closed with every idle one (a restarted server
// broke them all), and new ones are opened when next needed.
// Reconnecting backs off: after a connection attempt failed, or a connection timed out, new
// connections are not attempted for a while (100 ms, doubling up to 5 s) and acquire() fails at
// once instead. So while the database is unreachable an admin request answers 503 at once rather
// than after DATABASE_TIMEOUT_MS each, and one caller per backoff period (in practice the sync
// thread's refresh) finds out when it is back.
// Private to server/store; thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pg_connection.hpp"

namespace cloudmeta::store {

class PgPool {
 public:
  // Opens nothing yet. size >= 1. timeout: each connection's bound (PgConnection).
  PgPool(std::string url, std::size_t size, std::chrono::milliseconds wait,
         std::chrono::milliseconds timeout);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // One connection, given back to the pool when the lease ends.
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection& operator*() const { return *connection_; }
    PgConnection* operator->() const { return connection_.get(); }

   private:
    friend class PgPool;
    Lease(PgPool& pool, std::unique_ptr<PgConnection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    PgPool* pool_;
    std::unique_ptr<PgConnection> connection_;
  };

  // An idle connection, else a new one while fewer than size are open, else waits. Throws
  // StoreError: kUnavailable when none came back within `wait`, a new one cannot connect, or
  // the last attempt failed less than the backoff ago; kInvalid for a URL libpq cannot parse.
  Lease acquire();

  std::size_t size() const { return size_; }
  // Connections open now, lent or idle (for tests and the start-up log).
  std::size_t open_connections() const;

 private:
  using Clock = std::chrono::steady_clock;
  void give_back(std::unique_ptr<PgConnection> connection) noexcept;
  void note_unreachable_locked(const std::string& error);

  const std::string url_;
  const std::size_t size_;
  const std::chrono::milliseconds wait_;
  const std::chrono::milliseconds timeout_;
  // Reconnection backoff, guarded by mutex_: no attempt before retry_at_; backoff_ is 0 while
  // the database answers.
  Clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::string last_error_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // the most recently used last
  std::size_t open_ = 0;                             // idle + lent + being opened
};

}  // namespace cloudmeta::store
