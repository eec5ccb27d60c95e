// ChangeFeed: a push signal that another process or host changed the instances in the store, so
// this host can refresh its snapshot at once instead of waiting for the next poll. Postgres
// delivers it with LISTEN/NOTIFY on a connection of its own; SQLite needs none (a file is shared
// by processes of one host only, and polling PRAGMA data_version costs next to nothing).
// A feed is a hint, never the only path: notifications sent while the feed was reconnecting are
// lost, so it also signals after every reconnect, and the app keeps polling as a safety net.
// Runs on the executor it is given (the sync thread's, server/runtime/app.cpp); not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "cloudmeta/asio.hpp"

namespace cloudmeta {

class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Connects (in the background, retrying with backoff) and starts delivering. Never throws for
  // an unreachable database: that is logged, and retried until stop().
  virtual void start() = 0;
  // Closes the connection; no callback runs afterwards.
  virtual void stop() = 0;
};

// Called on the feed's executor when the store may have changed (a notification arrived, or the
// feed reconnected after missing some).
using ChangeCallback = std::function<void()>;

// The feed for DATABASE_URL, or nullptr when the backend needs none (SQLite). timeout:
// DATABASE_TIMEOUT_MS, the bound of one connection attempt.
std::unique_ptr<ChangeFeed> open_change_feed(const std::string& database_url,
                                             std::chrono::milliseconds timeout,
                                             net::any_io_executor executor,
                                             ChangeCallback on_change);

}  // namespace cloudmeta
