// Owning handles for libpq's C objects, so every PGconn and PGresult is freed on every path,
// exceptions included. Private to server/store.
#pragma once

#include <libpq-fe.h>

#include <memory>

namespace cloudmeta::store {

struct PgConnDeleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
struct PgResultDeleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
struct PgConninfoDeleter {
  void operator()(PQconninfoOption* options) const noexcept { PQconninfoFree(options); }
};

using PgConnHandle = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultHandle = std::unique_ptr<PGresult, PgResultDeleter>;
using PgConninfoHandle = std::unique_ptr<PQconninfoOption, PgConninfoDeleter>;

}  // namespace cloudmeta::store
