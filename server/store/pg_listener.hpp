// PgListener: the ChangeFeed for PostgreSQL. A second libpq connection of its own (the Store's
// connection runs statements; this one only waits) does LISTEN cloudmeta_instances, the channel
// PostgresStore notifies in the same transaction as every instance write, so a notification means
// a committed change. The connection is non-blocking and watched by Asio on PQsocket, on the
// admin thread's executor, so waiting for a notification never ties up a thread. When the
// connection drops (Postgres restarted, network broke) it reconnects with capped exponential
// backoff, and signals once more after reconnecting because notifications sent meanwhile are lost.
// Not thread-safe: start() and stop() on the executor's thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cloudmeta/change_feed.hpp"

namespace cloudmeta::store {

class PgListener : public ChangeFeed {
 public:
  // url: postgres:// or postgresql://, as the Store's; connection parameters in it (sslmode,
  // keepalives...) win over the listener's defaults. timeout: DATABASE_TIMEOUT_MS, the bound of
  // one connection attempt (the keepalives follow it).
  PgListener(std::string url, std::chrono::milliseconds timeout, net::any_io_executor executor,
             ChangeCallback on_change);
  ~PgListener() override;
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  void start() override;
  void stop() override;

  struct State;  // shared with the running coroutine, which may outlive this object

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cloudmeta::store
