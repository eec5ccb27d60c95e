#include "pg_test_database.hpp"

#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>

namespace cloudmeta::testing {
namespace {

namespace fs = std::filesystem;

struct Server {
  std::string host, user, password;
  std::uint16_t port = 0;
};

std::map<std::string, std::string> read_env_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("no PostgreSQL test server: " + file.string() + " is missing");
  std::map<std::string, std::string> out;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

Server server_from(const fs::path& state_dir) {
  auto env = read_env_file(state_dir / "env");
  return Server{env.at("PG_HOST"), env.at("PG_USER"), env.at("PG_PASSWORD"),
                static_cast<std::uint16_t>(std::stoi(env.at("PG_PORT")))};
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// A server this process started because no fixture did; stopped when the process exits.
class PrivateServer {
 public:
  PrivateServer() {
    char dir[] = "/tmp/cloudmeta-pg-state-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    state_dir_ = dir;
    const std::string command = "bash " + quoted(CLOUDMETA_PG_CLUSTER_SCRIPT) + " start " +
                                quoted(state_dir_.string()) + " >&2";
    if (std::system(command.c_str()) != 0) {
      throw std::runtime_error("tests/support/pg_cluster.sh could not start PostgreSQL");
    }
    server_ = server_from(state_dir_);
  }
  ~PrivateServer() {
    const std::string command = "bash " + quoted(CLOUDMETA_PG_CLUSTER_SCRIPT) + " stop " +
                                quoted(state_dir_.string()) + " >&2";
    if (std::system(command.c_str()) != 0) return;
    std::error_code ignored;
    fs::remove_all(state_dir_, ignored);
  }
  const Server& server() const { return server_; }

 private:
  fs::path state_dir_;
  Server server_;
};

const Server& server() {
  static const Server shared = [] {
    if (const char* state = std::getenv("CLOUDMETA_TEST_PG_STATE")) return server_from(state);
    static PrivateServer own;
    return own.server();
  }();
  return shared;
}

std::string url_for(const Server& s, const std::string& database, const std::string& query) {
  std::string url = "postgresql://" + s.user + ":" + s.password + "@" + s.host + ":" +
                    std::to_string(s.port) + "/" + database;
  if (!query.empty()) url += "?" + query;
  return url;
}

using Conn = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

std::vector<std::string> run(const std::string& url, const std::string& sql) {
  Conn conn(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string("test connection failed: ") + PQerrorMessage(conn.get()));
  }
  Result result(PQexec(conn.get(), sql.c_str()), &PQclear);
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(result.get()));
  }
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(result.get()); ++i)
    out.emplace_back(PQgetvalue(result.get(), i, 0));
  return out;
}

std::string unique_name() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return "t" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(random() % 1000000);
}

}  // namespace

PgTestDatabase::PgTestDatabase() : name_(unique_name()) {
  run(url_for(server(), "postgres", ""), "CREATE DATABASE " + name_);
}

PgTestDatabase::~PgTestDatabase() {
  try {
    run(url_for(server(), "postgres", ""), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception& e) {
    MESSAGE("could not drop test database " << name_ << ": " << e.what());
  }
}

std::string PgTestDatabase::url(const std::string& query) const {
  return url_for(server(), name_, query);
}

const std::string& PgTestDatabase::password() const { return server().password; }

std::uint16_t PgTestDatabase::port() const { return server().port; }

std::vector<std::string> PgTestDatabase::column(const std::string& sql) const {
  return run(url(), sql);
}

}  // namespace cloudmeta::testing
