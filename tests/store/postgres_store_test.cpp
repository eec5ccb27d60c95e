// What only the PostgreSQL backend has: a server that can be unreachable or refuse us, URL
// parameters handed to libpq, NOTIFY on instance writes, reconnecting after the server
// dropped the connection, and the time bound on every wait (DATABASE_TIMEOUT_MS). The Store
// contract itself is in store_contract_test.cpp.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/schema.hpp"
#include "cloudmeta/store.hpp"
#include "pg_test_database.hpp"

namespace {

namespace cm = cloudmeta;
using Kind = cm::StoreError::Kind;

cm::InstanceRecord sample(const std::string& id, const std::string& ip) {
  return cm::record_from_json({{"instance_id", id}, {"ip", ip}});
}

template <class F>
cm::StoreError store_error_of(F&& f) {
  try {
    f();
  } catch (const cm::StoreError& e) {
    return e;
  }
  FAIL("expected a StoreError");
  return cm::StoreError(Kind::kCorrupt, "unreachable");
}

TEST_CASE("postgres store: a wrong password is kUnavailable and the message hides the password") {
  cm::testing::PgTestDatabase db;
  const std::string wrong = "not-the-password-" + db.password().substr(0, 6);
  std::string url = db.url();
  url.replace(url.find(db.password()), db.password().size(), wrong);
  auto e = store_error_of([&] { cm::open_store(url); });
  CHECK(e.kind() == Kind::kUnavailable);
  const std::string message = e.what();
  CHECK(message.find("password authentication failed") != std::string::npos);
  CHECK(message.find(wrong) == std::string::npos);
  CHECK(message.find(db.password()) == std::string::npos);
}

TEST_CASE("postgres store: nothing listening is kUnavailable") {
  cm::testing::PgTestDatabase db;
  // Port 1 (tcpmux) is privileged and unused on a test machine: connection refused at once.
  auto e = store_error_of([&] { cm::open_store("postgresql://u:sekrit@127.0.0.1:1/db"); });
  CHECK(e.kind() == Kind::kUnavailable);
  CHECK(std::string(e.what()).find("sekrit") == std::string::npos);
}

TEST_CASE("postgres store: a URL libpq cannot parse is kInvalid without the password") {
  auto e = store_error_of(
      [&] { cm::open_store("postgresql://u:sekrit@127.0.0.1/db?no_such_parameter=1"); });
  CHECK(e.kind() == Kind::kInvalid);
  CHECK(std::string(e.what()).find("sekrit") == std::string::npos);
}

TEST_CASE("postgres store: URL parameters reach libpq (application_name, sslmode)") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url("application_name=cm-passthrough&sslmode=disable"));
  store->migrate();
  auto names = db.column(
      "SELECT application_name FROM pg_stat_activity"
      " WHERE datname = current_database()");
  CHECK(std::find(names.begin(), names.end(), "cm-passthrough") != names.end());

  // The test server has no TLS: sslmode=require must be honoured, hence refused.
  auto e = store_error_of([&] { cm::open_store(db.url("sslmode=require")); });
  CHECK(e.kind() == Kind::kUnavailable);
  CHECK(std::string(e.what()).find("SSL") != std::string::npos);
}

// Hosts of a fleet can LISTEN instead of polling: each committed instance write notifies once
// with the new revision as payload.
TEST_CASE("postgres store: instance writes NOTIFY cloudmeta_instances with the revision") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url());
  store->migrate();

  std::unique_ptr<PGconn, decltype(&PQfinish)> listener(PQconnectdb(db.url().c_str()), &PQfinish);
  REQUIRE(PQstatus(listener.get()) == CONNECTION_OK);
  PQclear(PQexec(listener.get(), "LISTEN cloudmeta_instances"));

  store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
  CHECK_THROWS(store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.6")));  // no notify
  store->delete_instance("i-0123456789abcdef0");

  std::vector<std::string> payloads;
  // Notifications are sent at commit; wait for both, with a generous bound for a loaded machine.
  for (int waited = 0; payloads.size() < 2 && waited < 100; ++waited) {
    pollfd pfd{PQsocket(listener.get()), POLLIN, 0};
    poll(&pfd, 1, 100);
    PQconsumeInput(listener.get());
    while (PGnotify* n = PQnotifies(listener.get())) {
      payloads.emplace_back(n->extra);
      PQfreemem(n);
    }
  }
  CHECK(payloads == std::vector<std::string>{"1", "2"});
}

// The server ends our session (restart, failover, idle kill): the call that finds out fails with
// kUnavailable, the next one reconnects by itself.
TEST_CASE("postgres store: reconnects after the server dropped the connection") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url("application_name=cm-victim"));
  store->migrate();
  store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));

  auto killed = db.column(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
      " WHERE application_name = 'cm-victim'");
  REQUIRE(killed == std::vector<std::string>{"t"});

  auto e = store_error_of([&] { store->list_instances(); });
  CHECK(e.kind() == Kind::kUnavailable);
  CHECK(store->list_instances().size() == 1);
  store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.6"));
  CHECK(store->revision() == 2);
}

TEST_CASE("postgres store: schema_migrations records each applied migration") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url());
  const int version = store->migrate();
  auto rows = db.column("SELECT name FROM schema_migrations ORDER BY version");
  const auto& known = cm::migrations("postgres");
  CHECK(version == known.back().version);
  REQUIRE(rows.size() == known.size());
  for (std::size_t i = 0; i < known.size(); ++i) CHECK(rows[i] == known[i].name);
}

// ---- the connection pool (DATABASE_POOL_SIZE) ----

std::size_t connections_named(const cm::testing::PgTestDatabase& db, const std::string& name) {
  return std::stoul(
      db.column("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + name + "'")
          .at(0));
}

std::string instance_id(int n) {
  char id[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  return id;
}

TEST_CASE("postgres store: a pool of 2 serves 6 writing threads on at most 2 connections") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url("application_name=cm-pool2"),
                              cm::StoreOptions{2, std::chrono::milliseconds(10'000)});
  store->migrate();
  constexpr int kThreads = 6;
  constexpr int kEach = 15;
  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::size_t most_seen = 0;
  std::thread watcher([&] {
    while (writing) most_seen = std::max(most_seen, connections_named(db, "cm-pool2"));
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        try {
          store->insert_instance(sample(instance_id(t * 100 + i),
                                        "10.2." + std::to_string(t) + "." + std::to_string(i)));
          store->revision();
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  writing = false;
  watcher.join();
  CHECK(failures == 0);
  CHECK(store->list_instances().size() == kThreads * kEach);
  CHECK(store->revision() == kThreads * kEach);
  CHECK(most_seen >= 1);
  CHECK(most_seen <= 2);
  MESSAGE("most connections seen at once: " << most_seen);
  CHECK(connections_named(db, "cm-pool2") <= 2);
}

TEST_CASE("postgres store: an exhausted pool is kUnavailable after the wait, then recovers") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url(), cm::StoreOptions{1, std::chrono::milliseconds(300)});
  store->migrate();
  // A transaction holds the one connection until `release` is set.
  std::promise<void> holding;
  std::promise<void> release;
  std::thread holder([&] {
    store->transaction([&] {
      store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
      holding.set_value();
      release.get_future().wait();
    });
  });
  holding.get_future().wait();
  const auto started = std::chrono::steady_clock::now();
  auto e = store_error_of([&] { store->list_instances(); });
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(e.kind() == Kind::kUnavailable);
  CHECK(std::string(e.what()).find("connection pool exhausted: 1 connections busy for 300 ms") !=
        std::string::npos);
  CHECK(waited >= std::chrono::milliseconds(290));
  release.set_value();
  holder.join();
  CHECK(store->list_instances().size() == 1);
}

TEST_CASE("postgres store: a waiting caller gets the connection as soon as it comes back") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url(), cm::StoreOptions{1, std::chrono::milliseconds(10'000)});
  store->migrate();
  std::promise<void> holding;
  std::thread holder([&] {
    store->transaction([&] {
      holding.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    });
  });
  holding.get_future().wait();
  const auto started = std::chrono::steady_clock::now();
  CHECK(store->revision() == 0);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  holder.join();
}

// Postgres restarted (here: every backend of the pool terminated): the call that finds out fails
// once, the broken connection and the idle ones are closed, and the next calls work on new ones.
TEST_CASE("postgres store: a pool whose connections were killed fails one call, then recovers") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url("application_name=cm-pool-kill"),
                              cm::StoreOptions{2, std::chrono::milliseconds(10'000)});
  store->migrate();
  // Open both connections: one held by a transaction while another call needs one.
  std::promise<void> holding;
  std::promise<void> release;
  std::thread holder([&] {
    store->transaction([&] {
      holding.set_value();
      release.get_future().wait();
    });
  });
  holding.get_future().wait();
  store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.5"));
  release.set_value();
  holder.join();
  REQUIRE(connections_named(db, "cm-pool-kill") == 2);

  auto killed = db.column(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
      " WHERE application_name = 'cm-pool-kill'");
  REQUIRE(killed == std::vector<std::string>{"t", "t"});

  auto e = store_error_of([&] { store->list_instances(); });
  CHECK(e.kind() == Kind::kUnavailable);
  for (int i = 0; i < 5; ++i) CHECK(store->list_instances().size() == 1);
  store->insert_instance(sample("i-0bbbbbbbbbbbbbbb2", "10.0.0.6"));
  CHECK(store->revision() == 2);
  CHECK(connections_named(db, "cm-pool-kill") == 1);
}

}  // namespace

// ---- DATABASE_TIMEOUT_MS: no wait on the server is unbounded ----

namespace {

using Clock = std::chrono::steady_clock;

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A TCP server that accepts and then never says a word: what a database host looks like to the
// client when it stops answering (as far as loopback can show it; tests/clients'
// test_postgres_partition.sh drops real packets between namespaces).
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_, 16) == 0);  // the kernel completes handshakes; nobody reads
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::string url() const {
    return "postgresql://u:sekrit@127.0.0.1:" + std::to_string(port_) + "/db";
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("postgres store: a server that never answers costs DATABASE_TIMEOUT_MS, then backoff") {
  SilentServer silent;
  const cm::StoreOptions options{1, std::chrono::milliseconds(10'000),
                                 std::chrono::milliseconds(500), false};
  auto store = cm::open_store(silent.url(), options);  // connect_at_open=false: no wait yet
  auto started = Clock::now();
  auto e = store_error_of([&] { store->revision(); });
  const long long first_ms = ms_since(started);
  CHECK(e.kind() == Kind::kUnavailable);
  CHECK(std::string(e.what()).find("no answer within 500 ms (DATABASE_TIMEOUT_MS)") !=
        std::string::npos);
  CHECK(first_ms >= 450);
  CHECK(first_ms < 2'000);  // libpq's own default would wait forever (no connect_timeout)
  // Right after a failed attempt the next call does not wait again: it fails at once.
  started = Clock::now();
  e = store_error_of([&] { store->revision(); });
  CHECK(ms_since(started) < 100);
  CHECK(std::string(e.what()).find("next attempt in") != std::string::npos);
  // The CLI's way (connect at open) is bounded the same.
  started = Clock::now();
  CHECK(store_error_of([&] { cm::open_store(silent.url()); }).kind() == Kind::kUnavailable);
  CHECK(ms_since(started) < 5'000);  // StoreOptions' default bound: 3 s
}

TEST_CASE("postgres store: a statement the server sits on is cut at DATABASE_TIMEOUT_MS") {
  cm::testing::PgTestDatabase db;
  {
    auto setup = cm::open_store(db.url());
    setup->migrate();
  }
  // Another session holds the revision row every instance write needs.
  std::unique_ptr<PGconn, decltype(&PQfinish)> holder(PQconnectdb(db.url().c_str()), &PQfinish);
  REQUIRE(PQstatus(holder.get()) == CONNECTION_OK);
  PQclear(PQexec(holder.get(), "BEGIN"));
  PQclear(PQexec(holder.get(), "SELECT value FROM instance_revision WHERE id = 1 FOR UPDATE"));

  const cm::StoreOptions options{2, std::chrono::milliseconds(10'000),
                                 std::chrono::milliseconds(500)};
  SUBCASE("the server's statement_timeout, set from the bound") {
    auto store = cm::open_store(db.url(), options);
    const auto started = Clock::now();
    auto e = store_error_of(
        [&] { store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "10.0.0.1")); });
    CHECK(e.kind() == Kind::kUnavailable);
    CHECK(std::string(e.what()).find("57014") != std::string::npos);  // query_canceled
    CHECK(ms_since(started) < 3'000);
  }
  SUBCASE("the client's own deadline, when DATABASE_URL turns statement_timeout off") {
    auto store = cm::open_store(db.url("options=-c%20statement_timeout%3D0"), options);
    const auto started = Clock::now();
    auto e = store_error_of(
        [&] { store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "10.0.0.1")); });
    CHECK(e.kind() == Kind::kUnavailable);
    CHECK(std::string(e.what()).find("did not answer within 500 ms") != std::string::npos);
    CHECK(ms_since(started) < 3'000);
    // The lock goes away: after the backoff the store works again, by itself.
    PQclear(PQexec(holder.get(), "ROLLBACK"));
    bool recovered = false;
    for (int attempt = 0; attempt < 50 && !recovered; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      try {
        store->insert_instance(sample("i-0aaaaaaaaaaaaaaa1", "10.0.0.1"));
        recovered = true;
      } catch (const cm::StoreError& again) {
        CHECK(again.kind() == Kind::kUnavailable);
      }
    }
    CHECK(recovered);
  }
}

// A standby, or default_transaction_read_only: reads go on, writes are kReadOnly (the admin API's
// 503 with a clear message, not a 500), and they work again once the database accepts them.
TEST_CASE("postgres store: a read-only database answers reads, writes are kReadOnly") {
  cm::testing::PgTestDatabase db;
  {
    auto store = cm::open_store(db.url("sslmode=disable"));
    store->migrate();
    store->insert_instance(sample("i-0123456789abcdef0", "10.0.0.1"));
  }
  const std::string name = db.column("SELECT current_database()").front();
  db.column("ALTER DATABASE \"" + name + "\" SET default_transaction_read_only = on");
  {
    auto store = cm::open_store(db.url("sslmode=disable"));
    CHECK(store->list_instances().size() == 1);
    CHECK(store->find_instance("i-0123456789abcdef0"));
    const auto refused = store_error_of(
        [&] { store->insert_instance(sample("i-0123456789abcdef1", "10.0.0.2")); });
    CHECK(refused.kind() == Kind::kReadOnly);
    CHECK(std::string(refused.what()).find("25006") != std::string::npos);
    CHECK(store_error_of([&] { store->touch_api_token(1, "2026-01-01T00:00:00Z"); }).kind() ==
          Kind::kReadOnly);
  }
  // The setting applies to this connection too: a read-write transaction of its own undoes it.
  db.column("BEGIN READ WRITE; ALTER DATABASE \"" + name +
            "\" SET default_transaction_read_only = off; COMMIT");
  auto store = cm::open_store(db.url("sslmode=disable"));
  store->insert_instance(sample("i-0123456789abcdef1", "10.0.0.2"));
  CHECK(store->list_instances().size() == 2);
}

// `cloudmeta import` of `lines` (JSON records) into the test's database.
cm::testing::CliResult import_into(const cm::testing::PgTestDatabase& db,
                                   const std::vector<std::string>& lines) {
  const auto input = std::filesystem::temp_directory_path() /
                     ("cloudmeta-pg-import-" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(input);
    for (const auto& line : lines) out << line << "\n";
  }
  setenv("DATABASE_URL", db.url().c_str(), 1);
  auto result = cm::testing::run_cli_captured({"import", "--input", input.string()});
  unsetenv("DATABASE_URL");
  std::filesystem::remove(input);
  return result;
}

std::vector<std::string> numbered_records(int first, int count) {
  std::vector<std::string> lines;
  for (int n = first; n < first + count; ++n) {
    char id[32];
    std::snprintf(id, sizeof id, "i-%017d", n);
    lines.push_back(std::string("{\"instance_id\":\"") + id + "\",\"ip\":\"10.7." +
                    std::to_string(n / 250) + "." + std::to_string(n % 250 + 1) + "\"}");
  }
  return lines;
}

// An import's batch is one statement on Postgres; a record the database refuses in it (here a
// trigger, as a constraint another host's write broke between the import's checks and its
// write would) is found by writing the batch again one by one, and named by its line.
TEST_CASE("postgres store: import names the line of a record the database refuses in a batch") {
  cm::testing::PgTestDatabase db;
  cm::open_store(db.url())->migrate();
  db.column(
      "CREATE FUNCTION refuse_third() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      " IF NEW.instance_id = 'i-00000000000000003' THEN"
      " RAISE unique_violation USING MESSAGE = 'refused by the test'; END IF;"
      " RETURN NEW; END $$");
  db.column("CREATE TRIGGER refuse_third BEFORE INSERT ON instances FOR EACH ROW"
            " EXECUTE FUNCTION refuse_third()");
  const auto refused = import_into(db, numbered_records(1, 5));
  CHECK(refused.code != 0);
  CHECK(refused.err.find("line 3: ") != std::string::npos);
  CHECK(refused.err.find("nothing was imported") != std::string::npos);
  auto store = cm::open_store(db.url());
  CHECK(store->list_instances().empty());
  CHECK(store->revision() == 0);

  db.column("DROP TRIGGER refuse_third ON instances");
  CHECK(import_into(db, numbered_records(3, 1)).code == 0);
  CHECK(store->list_instances().size() == 1);
  CHECK(store->revision() == 1);
}

// The planner's row count (pg_class.reltuples) is what ANALYZE last saw: the migration's ANALYZE
// of the empty table says 0 until the next one.
TEST_CASE("postgres store: an import that changes a tenth of the fleet or more analyzes it") {
  cm::testing::PgTestDatabase db;
  cm::open_store(db.url())->migrate();
  const auto planned_rows = [&] {
    return db.column("SELECT reltuples::bigint FROM pg_class WHERE relname = 'instances'").at(0);
  };
  CHECK(planned_rows() == "0");
  REQUIRE(import_into(db, numbered_records(1, 1500)).code == 0);
  CHECK(planned_rows() == "1500");
  // One record into 1,500 is no reason to read a sample of them again.
  REQUIRE(import_into(db, numbered_records(2000, 1)).code == 0);
  CHECK(planned_rows() == "1500");
}

// scan_instances reads through a cursor, 10,000 rows a round trip: every row once across the
// batches, and a second scan in the same transaction declares the cursor again.
TEST_CASE("postgres store: scan_instances hands over every row across its fetches") {
  cm::testing::PgTestDatabase db;
  auto store = cm::open_store(db.url());
  store->migrate();
  constexpr int kRows = 25'001;
  for (int first = 0; first < kRows; first += 1000) {
    std::vector<cm::InstanceRecord> batch;
    for (int n = first; n < std::min(first + 1000, kRows); ++n) {
      char id[32];
      std::snprintf(id, sizeof id, "i-%017d", n);
      batch.push_back(sample(id, "10." + std::to_string(n / 62500) + "." +
                                     std::to_string(n / 250 % 250) + "." +
                                     std::to_string(n % 250 + 1)));
    }
    store->write_instances(batch);
  }
  const auto scan = [&] {
    std::set<std::string> ids;
    std::size_t rows = 0;
    const auto revision = store->scan_instances([&](cm::StoredInstance&& row) {
      ++rows;
      ids.emplace(row.instance_id);
      CHECK(cm::decode(row).ip == row.ip);
    });
    CHECK(revision == store->revision());
    CHECK(rows == static_cast<std::size_t>(kRows));
    CHECK(ids.size() == static_cast<std::size_t>(kRows));
  };
  scan();
  store->transaction([&] {
    scan();
    scan();
  });
}
