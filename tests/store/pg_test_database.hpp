// A fresh PostgreSQL database per test, on a real server from Debian's postgresql package. The
// server is the one ctest's `postgres` fixture started (tests/postgres.cmake:
// CLOUDMETA_TEST_PG_STATE names its state directory); when the test binary runs on its own, the
// first PgTestDatabase starts a private server with tests/support/pg_cluster.sh and the process
// stops it at exit. Tests in parallel each get their own database, so they never see each other's
// rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cloudmeta::testing {

class PgTestDatabase {
 public:
  PgTestDatabase();   // CREATE DATABASE with a unique name
  ~PgTestDatabase();  // DROP DATABASE ... WITH (FORCE)
  PgTestDatabase(const PgTestDatabase&) = delete;
  PgTestDatabase& operator=(const PgTestDatabase&) = delete;

  // postgresql://user:password@127.0.0.1:port/name, then `query` (e.g. "sslmode=disable").
  std::string url(const std::string& query = "") const;
  const std::string& password() const;
  std::uint16_t port() const;

  // Runs one statement on this database outside any Store and returns the first column of every
  // row: for checks a Store does not offer (pg_stat_activity, LISTEN).
  std::vector<std::string> column(const std::string& sql) const;

 private:
  std::string name_;
};

}  // namespace cloudmeta::testing
