// DATABASE_URL -> ChangeFeed: Postgres gets a PgListener; SQLite none (see change_feed.hpp).
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>

#include "cloudmeta/change_feed.hpp"
#include "pg_listener.hpp"

namespace cloudmeta {
namespace {

// The same schemes open_store() hands to PostgresStore, matched without regard to case.
bool is_postgres_url(std::string url) {
  std::transform(url.begin(), url.end(), url.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  const std::string_view u(url);
  return u.rfind("postgres://", 0) == 0 || u.rfind("postgresql://", 0) == 0;
}

}  // namespace

std::unique_ptr<ChangeFeed> open_change_feed(const std::string& database_url,
                                             std::chrono::milliseconds timeout,
                                             net::any_io_executor executor,
                                             ChangeCallback on_change) {
  if (!is_postgres_url(database_url)) return nullptr;
  return std::make_unique<store::PgListener>(database_url, timeout, std::move(executor),
                                             std::move(on_change));
}

}  // namespace cloudmeta
