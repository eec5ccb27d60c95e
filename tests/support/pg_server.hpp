// A real PostgreSQL server (Debian's postgresql package, via tests/support/pg_cluster.sh) for the
// integration tests that run cloudmeta on Postgres. shared() is the server of ctest's `postgres`
// fixture (tests/postgres.cmake sets CLOUDMETA_TEST_PG_STATE), or, when the test binary runs on
// its own, a private one started on first use and stopped at exit. A test that stops the server
// (a fault test) constructs its own PgServer instead, so other tests never see the outage.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace cloudmeta::testing {

class PgServer {
 public:
  PgServer();   // initdb + start on a free loopback port; throws std::runtime_error
  ~PgServer();  // stops it and removes its directory (private servers only)
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  static PgServer& shared();

  // CREATE DATABASE with a unique name; its postgresql:// URL (password included).
  std::string create_database();

  // Fast shutdown (clients are disconnected at once), keeping the data; resume() starts the
  // server again on the same port and data directory. Private servers only.
  void halt();
  void resume();

  std::uint16_t port() const { return port_; }

 private:
  struct Shared {};
  PgServer(Shared, const std::filesystem::path& state_dir);
  void read_state();
  void run_script(const std::string& action) const;

  std::filesystem::path state_dir_;
  bool owned_ = false;
  std::string host_, user_, password_;
  std::uint16_t port_ = 0;
};

}  // namespace cloudmeta::testing
