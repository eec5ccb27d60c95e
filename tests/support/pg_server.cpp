#include "pg_server.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>

namespace cloudmeta::testing {
namespace {

namespace fs = std::filesystem;

std::string quoted(const std::string& s) { return "'" + s + "'"; }

void exec(const std::string& url, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string("test connection failed: ") + PQerrorMessage(conn.get()));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(result.get()));
  }
}

std::string unique_name() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return "it" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(random() % 1000000);
}

}  // namespace

PgServer::PgServer() : owned_(true) {
  char dir[] = "/tmp/cloudmeta-pg-state-XXXXXX";
  if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
  state_dir_ = dir;
  run_script("start");
  read_state();
}

PgServer::PgServer(Shared, const fs::path& state_dir) : state_dir_(state_dir) { read_state(); }

PgServer::~PgServer() {
  if (!owned_) return;
  try {
    run_script("stop");
  } catch (const std::exception&) {
    return;  // leave the directory for a post-mortem
  }
  std::error_code ignored;
  fs::remove_all(state_dir_, ignored);
}

PgServer& PgServer::shared() {
  if (const char* state = std::getenv("CLOUDMETA_TEST_PG_STATE")) {
    static PgServer fixture(Shared{}, state);
    return fixture;
  }
  static PgServer own;
  return own;
}

void PgServer::read_state() {
  std::ifstream in(state_dir_ / "env");
  if (!in) throw std::runtime_error("no PostgreSQL test server in " + state_dir_.string());
  std::map<std::string, std::string> env;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  host_ = env.at("PG_HOST");
  user_ = env.at("PG_USER");
  password_ = env.at("PG_PASSWORD");
  port_ = static_cast<std::uint16_t>(std::stoi(env.at("PG_PORT")));
}

void PgServer::run_script(const std::string& action) const {
  const std::string command = "bash " + quoted(CLOUDMETA_PG_CLUSTER_SCRIPT) + " " + action + " " +
                              quoted(state_dir_.string()) + " >&2";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("tests/support/pg_cluster.sh " + action + " failed");
  }
}

std::string PgServer::create_database() {
  const std::string base = "postgresql://" + user_ + ":" + password_ + "@" + host_ + ":" +
                           std::to_string(port_) + "/";
  const std::string name = unique_name();
  exec(base + "postgres", "CREATE DATABASE " + name);
  return base + name;
}

void PgServer::halt() {
  if (!owned_) throw std::logic_error("halt() on the shared server would fail other tests");
  run_script("halt");
}

void PgServer::resume() {
  if (!owned_) throw std::logic_error("resume() on the shared server");
  run_script("resume");
}

}  // namespace cloudmeta::testing
