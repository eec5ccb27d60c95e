// The CLI commands that write the store, on a real SQLite file: what scripts rely on (exit codes,
// the token alone on stdout's last line) and what lands in the database.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cloudmeta/api_tokens.hpp"
#include "cloudmeta/cli.hpp"
#include "cli_runner.hpp"
#include "cloudmeta/passwords.hpp"
#include "cloudmeta/store.hpp"

namespace {

using Result = cloudmeta::testing::CliResult;
Result run(std::vector<std::string> args) { return cloudmeta::testing::run_cli_captured(args); }

// A fresh database file named by DATABASE_URL for the test's lifetime.
class TempDatabase {
 public:
  TempDatabase() {
    char dir_template[] = "/tmp/cloudmeta-cli-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    url_ = "sqlite://" + dir_ + "/x.db";
    setenv("DATABASE_URL", url_.c_str(), 1);
    unsetenv("CLOUDMETA_SUPERUSER_PASSWORD");
  }
  ~TempDatabase() {
    unsetenv("DATABASE_URL");
    unsetenv("CLOUDMETA_SUPERUSER_PASSWORD");
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<cloudmeta::Store> open() const { return cloudmeta::open_store(url_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string file() const { return dir_ + "/x.db"; }

 private:
  std::string dir_;
  std::string url_;
};

std::string last_line(const std::string& text) {
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  const auto start = text.rfind('\n', text.size() - 2);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     text.size() - (start == std::string::npos ? 0 : start + 1) - 1);
}

void check_one_error_line(const Result& r, int code, const std::string& fragment) {
  CHECK(r.code == code);
  CHECK(r.err.rfind("cloudmeta: error: ", 0) == 0);
  CHECK(r.err.find('\n') == r.err.size() - 1);
  CHECK(r.err.find(fragment) != std::string::npos);
}

}  // namespace

TEST_CASE("migrate prints the schema version and is idempotent") {
  TempDatabase db;
  const Result first = run({"migrate"});
  CHECK(first.code == 0);
  const int version = db.open()->schema_version();
  CHECK(version >= 1);
  CHECK(first.out == "schema at version " + std::to_string(version) + "\n");
  CHECK(run({"migrate"}).out == first.out);
}

TEST_CASE("createsuperuser --noinput") {
  TempDatabase db;
  check_one_error_line(run({"createsuperuser", "--username", "admin", "--noinput"}), 2,
                       "CLOUDMETA_SUPERUSER_PASSWORD must be set");
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "short", 1);
  check_one_error_line(run({"createsuperuser", "--username", "admin", "--noinput"}), 2,
                       "at least 8 characters");
  CHECK_FALSE(db.open()->find_user("admin").has_value());

  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "correct horse battery", 1);
  const Result made = run(
      {"createsuperuser", "--username", "admin", "--email", "ops@example.com", "--noinput"});
  CHECK(made.code == 0);
  CHECK(made.err.empty());
  const auto user = db.open()->find_user("admin");
  REQUIRE(user.has_value());
  CHECK(user->email == "ops@example.com");
  CHECK(user->password_hash.find("correct horse") == std::string::npos);
  CHECK(cloudmeta::verify_password("correct horse battery", user->password_hash));

  check_one_error_line(run({"createsuperuser", "--username", "admin", "--noinput"}), 1,
                       "user 'admin' already exists");
}

TEST_CASE("createsuperuser without --noinput needs a terminal") {
  TempDatabase db;
  const int saved = dup(STDIN_FILENO);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  REQUIRE(dup2(null_fd, STDIN_FILENO) == STDIN_FILENO);
  const Result r = run({"createsuperuser", "--username", "admin"});
  dup2(saved, STDIN_FILENO);
  close(saved);
  close(null_fd);
  check_one_error_line(r, 2, "not a terminal");
  CHECK_FALSE(db.open()->find_user("admin").has_value());
}

TEST_CASE("changepassword") {
  TempDatabase db;
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "first-password", 1);
  check_one_error_line(run({"changepassword", "--username", "nobody", "--noinput"}), 1,
                       "no user named 'nobody'");
  REQUIRE(run({"createsuperuser", "--username", "admin", "--noinput"}).code == 0);
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "second-password", 1);
  const Result r = run({"changepassword", "--username", "admin", "--noinput"});
  CHECK(r.code == 0);
  const auto user = db.open()->find_user("admin");
  REQUIRE(user.has_value());
  CHECK(cloudmeta::verify_password("second-password", user->password_hash));
  CHECK_FALSE(cloudmeta::verify_password("first-password", user->password_hash));
}

TEST_CASE("token create, list, revoke") {
  TempDatabase db;
  const Result created = run({"token", "create", "--name", "ci-deploy"});
  REQUIRE(created.code == 0);
  const std::string token = last_line(created.out);
  CHECK(token.rfind("cm_", 0) == 0);
  CHECK(token.find(' ') == std::string::npos);
  CHECK(created.out.find("ci-deploy") != std::string::npos);  // the note names it

  const auto stored = db.open()->find_api_token_by_hash(cloudmeta::hash_api_token(token));
  REQUIRE(stored.has_value());
  CHECK(stored->name == "ci-deploy");

  check_one_error_line(run({"token", "create", "--name", "ci-deploy"}), 1, "already exists");
  REQUIRE(run({"token", "create", "--name", "second"}).code == 0);

  const Result listed = run({"token", "list"});
  CHECK(listed.code == 0);
  CHECK(listed.out.rfind("NAME", 0) == 0);
  CHECK(listed.out.find("LAST USED") != std::string::npos);
  CHECK(listed.out.find("ci-deploy") != std::string::npos);
  CHECK(listed.out.find(stored->prefix) != std::string::npos);
  CHECK(listed.out.find("never") != std::string::npos);
  CHECK(listed.out.find(stored->token_hash) == std::string::npos);
  CHECK(listed.out.find(token) == std::string::npos);

  CHECK(run({"token", "revoke", "--name", "ci-deploy"}).code == 0);
  CHECK_FALSE(db.open()->find_api_token_by_hash(stored->token_hash).has_value());
  check_one_error_line(run({"token", "revoke", "--name", "ci-deploy"}), 1,
                       "no API token named 'ci-deploy'");
  CHECK(run({"token", "list"}).out.find("ci-deploy") == std::string::npos);
}

namespace {

std::string record_line(int n) {
  return "{\"instance_id\":\"i-0000000000000000" + std::to_string(n) + "\",\"ip\":\"10.4.0." +
         std::to_string(n) + "\",\"hostname\":\"h" + std::to_string(n) + "\"}\n";
}

std::string write_file(const TempDatabase& db, const std::string& name, const std::string& text) {
  const std::string path = db.path(name);
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("import: counts created, replaced, unchanged, importing twice changes nothing") {
  TempDatabase db;
  const std::string first =
      write_file(db, "first.jsonl", record_line(1) + record_line(2) + record_line(3));
  const Result created = run({"import", "--input", first});
  CHECK(created.code == 0);
  CHECK(created.out == "Imported: 3 created, 0 replaced, 0 unchanged.\n");
  CHECK(db.open()->revision() == 1);  // one transaction, one revision

  const Result again = run({"import", "--input", first});
  CHECK(again.out == "Imported: 0 created, 0 replaced, 3 unchanged.\n");
  CHECK(db.open()->revision() == 1);  // no write at all

  std::string changed = record_line(2);
  changed.replace(changed.find("\"h2\""), 4, "\"h2-new\"");
  const std::string second =
      write_file(db, "second.jsonl", record_line(1) + changed + record_line(4));
  const Result mixed = run({"import", "--input", second});
  CHECK(mixed.out == "Imported: 1 created, 1 replaced, 1 unchanged.\n");
  CHECK(db.open()->find_instance("i-00000000000000002")->hostname == "h2-new");
  CHECK(db.open()->list_instances().size() == 4);
}

// One transaction per import: a write the database refuses halfway (here a trigger stands in for
// a constraint or an outage) undoes the writes before it, and the error names the line.
TEST_CASE("import: a write refused in the middle leaves the store untouched") {
  TempDatabase db;
  REQUIRE(run({"migrate"}).code == 0);
  {
    SQLite::Database raw(db.file(), SQLite::OPEN_READWRITE);
    raw.exec(
        "CREATE TRIGGER refuse_third BEFORE INSERT ON instances"
        " WHEN NEW.instance_id = 'i-00000000000000003'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
  }
  const std::string input = write_file(
      db, "in.jsonl", record_line(1) + record_line(2) + "\n" + record_line(3) + record_line(4));
  const Result refused = run({"import", "--input", input});
  check_one_error_line(refused, 1, "line 4: ");
  CHECK(refused.err.find("nothing was imported") != std::string::npos);
  CHECK(refused.out.empty());
  auto store = db.open();
  CHECK(store->list_instances().empty());
  CHECK(store->revision() == 0);
}

TEST_CASE("import: a bad line names its number and nothing is written") {
  TempDatabase db;
  REQUIRE(run({"migrate"}).code == 0);
  const std::string input = write_file(db, "in.jsonl",
                                       record_line(1) + "{\"instance_id\": 5}\n" + record_line(3));
  check_one_error_line(run({"import", "--input", input}), 1, "line 2: ");
  CHECK(db.open()->list_instances().empty());
}

namespace {

// Line n of a large import: instance i-<n in 17 hex digits> at an address of its own.
std::string numbered_line(int n, const std::string& ip) {
  char id[32];
  std::snprintf(id, sizeof id, "i-%017x", n);
  return std::string("{\"instance_id\":\"") + id + "\",\"ip\":\"" + ip + "\"}\n";
}

std::string numbered_ip(int n) {
  return "10.5." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1);
}

}  // namespace

// An import is read and written a batch (1,000 lines) at a time in one transaction: a bad line
// in a later batch undoes the batches already written.
TEST_CASE("import: a bad line after the first batch undoes every batch before it") {
  TempDatabase db;
  REQUIRE(run({"migrate"}).code == 0);
  std::string text;
  for (int n = 1; n <= 2500; ++n) text += numbered_line(n, numbered_ip(n));
  text += numbered_line(2501, "not an address");
  check_one_error_line(run({"import", "--input", write_file(db, "in.jsonl", text)}), 1,
                       "line 2501: ");
  auto store = db.open();
  CHECK(store->list_instances().empty());
  CHECK(store->revision() == 0);
  // The same lines without the bad one land whole.
  text.erase(text.rfind("{"));
  const Result imported = run({"import", "--input", write_file(db, "good.jsonl", text)});
  CHECK(imported.out == "Imported: 2500 created, 0 replaced, 0 unchanged.\n");
  CHECK(store->list_instances().size() == 2500);
}

// An address may not move from one stored instance to another within an import, whichever comes
// first in the file, also when the two lines fall in different batches: the holder is looked up
// per batch, and an address given up in an earlier batch is remembered.
TEST_CASE("import: an address moving between stored instances is refused in either order") {
  TempDatabase db;
  REQUIRE(run({"migrate"}).code == 0);
  const std::string holder = numbered_line(1, "10.6.0.1");  // i-...1 holds 10.6.0.1
  REQUIRE(run({"import", "--input", write_file(db, "seed.jsonl", holder)}).code == 0);
  const std::string moved_away = numbered_line(1, "10.6.0.2");
  const std::string taker = numbered_line(2, "10.6.0.1");
  std::string filler;
  for (int n = 10; n < 1500; ++n) filler += numbered_line(n, numbered_ip(n));

  SUBCASE("given up first, taken in a later batch") {
    const Result r =
        run({"import", "--input", write_file(db, "a.jsonl", moved_away + filler + taker)});
    check_one_error_line(r, 1, "line 1492: ip 10.6.0.1 belongs to instance i-00000000000000001");
  }
  SUBCASE("taken first, given up in a later batch") {
    const Result r =
        run({"import", "--input", write_file(db, "b.jsonl", taker + filler + moved_away)});
    check_one_error_line(r, 1, "line 1: ip 10.6.0.1 belongs to instance i-00000000000000001");
  }
  auto store = db.open();
  CHECK(store->list_instances().size() == 1);
  CHECK(store->find_instance_by_ip("10.6.0.1")->instance_id == "i-00000000000000001");
}

namespace {

void set_stored_document(const TempDatabase& db, const std::string& id, const std::string& doc) {
  SQLite::Database raw(db.file(), SQLite::OPEN_READWRITE);
  SQLite::Statement update(raw, "UPDATE instances SET doc = ? WHERE instance_id = ?");
  update.bind(1, doc);
  update.bind(2, id);
  REQUIRE(update.exec() == 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> audit_actions(cloudmeta::Store& store) {
  std::vector<std::string> actions;
  cloudmeta::AuditQuery everything;
  everything.limit = 100;
  for (const auto& e : store.list_audit(everything)) actions.insert(actions.begin(), e.action);
  return actions;
}

void refuse_audit_entries(const TempDatabase& db) {
  SQLite::Database raw(db.file(), SQLite::OPEN_READWRITE);
  raw.exec(
      "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log"
      " BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END");
}

}  // namespace

// One row that does not decode must not stop a backup or a move: the rest is exported, the row
// named, and the exit status says the export is incomplete (3, not 1: the output is good).
TEST_CASE("export: a row that does not decode is left out and named, the rest stays importable") {
  TempDatabase db;
  const std::string seed =
      write_file(db, "seed.jsonl", record_line(1) + record_line(2) + record_line(3));
  REQUIRE(run({"import", "--input", seed}).code == 0);
  set_stored_document(db, "i-00000000000000002", R"({"instance_id": 5, "ip": "10.4.0.2"})");
  // A newer version's field: exported as this version knows the record, without it.
  set_stored_document(
      db, "i-00000000000000003",
      R"({"instance_id": "i-00000000000000003", "ip": "10.4.0.3", "hostname": "h3-old",)"
      R"( "zone": 1})");

  const Result to_stdout = run({"export"});
  CHECK(to_stdout.code == 3);
  const auto lines = lines_of(to_stdout.out);
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[0])["instance_id"] == "i-00000000000000001");
  CHECK(nlohmann::json::parse(lines[1])["hostname"] == "h3-old");
  CHECK_FALSE(nlohmann::json::parse(lines[1]).contains("zone"));
  CHECK(to_stdout.err ==
        "cloudmeta: not exported: instance i-00000000000000002: the stored document is invalid:"
        " instance_id: must be a string\n");

  const std::string file = db.path("out.jsonl");
  const Result to_file = run({"export", "--output", file});
  CHECK(to_file.code == 3);
  CHECK(to_file.err.find("Exported 2 instance records to " + file + ".\n") == 0);
  CHECK(to_file.err.find("not exported: instance i-00000000000000002") != std::string::npos);

  // import replaces the row that does not decode, and keeps the newer version's field.
  const Result repaired = run({"import", "--input", seed});
  CHECK(repaired.code == 0);
  CHECK(repaired.out == "Imported: 0 created, 2 replaced, 1 unchanged.\n");
  CHECK(run({"export"}).code == 0);
  {
    SQLite::Database raw(db.file(), SQLite::OPEN_READONLY);
    const std::string doc =
        raw.execAndGet("SELECT doc FROM instances WHERE instance_id = 'i-00000000000000003'")
            .getString();
    CHECK(nlohmann::json::parse(doc)["zone"] == 1);
  }

  TempDatabase target;  // DATABASE_URL now names it
  const Result imported = run({"import", "--input", file});
  CHECK(imported.code == 0);
  CHECK(imported.out == "Imported: 2 created, 0 replaced, 0 unchanged.\n");
}

TEST_CASE("CLI changes are audited: superuser, password, tokens, import") {
  TempDatabase db;
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "first-password", 1);
  REQUIRE(run({"createsuperuser", "--username", "admin", "--noinput"}).code == 0);
  REQUIRE(run({"changepassword", "--username", "admin", "--noinput"}).code == 0);
  REQUIRE(run({"token", "create", "--name", "ci"}).code == 0);
  REQUIRE(run({"token", "revoke", "--name", "ci"}).code == 0);
  REQUIRE(run({"import", "--input", write_file(db, "in.jsonl", record_line(1))}).code == 0);

  auto store = db.open();
  CHECK(audit_actions(*store) == std::vector<std::string>{"user.create", "user.password",
                                                          "token.create", "token.revoke",
                                                          "instance.import"});
  cloudmeta::AuditQuery everything;
  const auto entries = store->list_audit(everything);
  for (const auto& e : entries) {
    CHECK(e.actor.rfind("cli:", 0) == 0);
    CHECK(e.peer == "local");
    CHECK(e.after.find("first-password") == std::string::npos);
  }
  const auto import = nlohmann::json::parse(entries.front().after);
  CHECK(import == nlohmann::json{{"created", 1}, {"replaced", 0}, {"unchanged", 0}});
}

TEST_CASE("CLI changepassword ends that user's admin page sessions, and only theirs") {
  TempDatabase db;
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "first-password", 1);
  REQUIRE(run({"createsuperuser", "--username", "admin", "--noinput"}).code == 0);
  REQUIRE(run({"createsuperuser", "--username", "other", "--noinput"}).code == 0);
  {
    auto store = db.open();
    store->create_admin_session({"s1", "admin", "127.0.0.1", "", 4'000'000'000}, 0);
    store->create_admin_session({"s2", "admin", "127.0.0.1", "", 4'000'000'000}, 0);
    store->create_admin_session({"s3", "other", "127.0.0.1", "", 4'000'000'000}, 0);
  }
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "second-password", 1);
  const Result r = run({"changepassword", "--username", "admin", "--noinput"});
  CHECK(r.code == 0);
  CHECK(r.out.find("Ended 2 admin page session(s)") != std::string::npos);
  auto store = db.open();
  CHECK_FALSE(store->find_admin_session("s1"));
  CHECK_FALSE(store->find_admin_session("s2"));
  CHECK(store->find_admin_session("s3"));
}

// The audit entry is written in the change's own transaction: when it cannot be written (a
// trigger stands in for a full disk or a broken table), the change does not happen either.
TEST_CASE("CLI: a change whose audit entry cannot be written does not happen") {
  TempDatabase db;
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "first-password", 1);
  REQUIRE(run({"createsuperuser", "--username", "admin", "--noinput"}).code == 0);
  REQUIRE(run({"token", "create", "--name", "kept"}).code == 0);
  db.open()->create_admin_session({"s1", "admin", "127.0.0.1", "", 4'000'000'000}, 0);
  refuse_audit_entries(db);

  check_one_error_line(run({"createsuperuser", "--username", "second", "--noinput"}), 1,
                       "audit");
  setenv("CLOUDMETA_SUPERUSER_PASSWORD", "second-password", 1);
  check_one_error_line(run({"changepassword", "--username", "admin", "--noinput"}), 1, "audit");
  check_one_error_line(run({"token", "create", "--name", "new"}), 1, "audit");
  check_one_error_line(run({"token", "revoke", "--name", "kept"}), 1, "audit");
  check_one_error_line(
      run({"import", "--input", write_file(db, "in.jsonl", record_line(1))}), 1, "audit");

  auto store = db.open();
  CHECK_FALSE(store->find_user("second"));
  CHECK(cloudmeta::verify_password("first-password", store->find_user("admin")->password_hash));
  CHECK(store->find_admin_session("s1"));
  CHECK(store->list_api_tokens().size() == 1);
  CHECK(store->list_api_tokens().front().name == "kept");
  CHECK(store->list_instances().empty());
  CHECK(audit_actions(*store) == std::vector<std::string>{"user.create", "token.create"});
}
