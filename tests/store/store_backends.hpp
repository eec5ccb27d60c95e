// The two backends the Store-level tests run on, for doctest's TEST_CASE_TEMPLATE: a SQLite file
// in a temporary directory and a fresh database on the real PostgreSQL test server. Cases named
// "...<postgres>" need the server that tests/postgres.cmake provides.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "pg_test_database.hpp"

namespace cloudmeta::testing {

struct SqliteBackend {
  static constexpr const char* kDialect = "sqlite";
  SqliteBackend() {
    char dir[] = "/tmp/cloudmeta-store-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
  }
  ~SqliteBackend() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  SqliteBackend(const SqliteBackend&) = delete;
  SqliteBackend& operator=(const SqliteBackend&) = delete;
  std::string url() const { return "sqlite://" + dir_ + "/store.db"; }
  // Runs one statement outside any Store (a hand edit, another program) and returns the first
  // column of every row.
  std::vector<std::string> sql(const std::string& statement) const {
    SQLite::Database db(dir_ + "/store.db", SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, statement);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  }
  std::string dir_;
};

struct PostgresBackend {
  static constexpr const char* kDialect = "postgres";
  std::string url() const { return db.url("sslmode=disable"); }
  std::vector<std::string> sql(const std::string& statement) const {
    return db.column(statement);
  }
  PgTestDatabase db;
};

}  // namespace cloudmeta::testing

TYPE_TO_STRING_AS("sqlite", cloudmeta::testing::SqliteBackend);
TYPE_TO_STRING_AS("postgres", cloudmeta::testing::PostgresBackend);
