// The two backends the Store-level tests run on, for doctest's TEST_CASE_TEMPLATE: a SQLite file
// in a temporary directory and a fresh database on the real PostgreSQL test server. Cases named
// "...<postgres>" need the server that tests/postgres.cmake provides.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

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
  std::string dir_;
};

struct PostgresBackend {
  static constexpr const char* kDialect = "postgres";
  std::string url() const { return db.url("sslmode=disable"); }
  PgTestDatabase db;
};

}  // namespace cloudmeta::testing

TYPE_TO_STRING_AS("sqlite", cloudmeta::testing::SqliteBackend);
TYPE_TO_STRING_AS("postgres", cloudmeta::testing::PostgresBackend);
