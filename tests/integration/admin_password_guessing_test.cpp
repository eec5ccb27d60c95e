// Password guessing against the real binary: every Argon2id check (HTTP Basic on /api/v1 and
// /metrics, the page's POST /login) goes through one throttle per address range and username,
// and the checks run one at a time off the admin thread, so a flood of guesses neither gets
// unlimited tries nor holds up token-authenticated requests. No timing assertions.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "basic_auth.hpp"
#include "deployment.hpp"

using namespace cloudmeta::testing;
using nlohmann::json;

namespace {

constexpr char kPassword[] = "correct horse battery staple";

HttpResponse call(Deployment& d, const std::string& source, const std::string& method,
                  const std::string& target, Headers headers, const std::string& body = {}) {
  headers.emplace_back("Host", "127.0.0.1");
  headers.emplace_back("Connection", "close");
  return http_call(d.server().admin_port(), {method, target, std::move(headers), body}, source);
}

HttpResponse with_basic(Deployment& d, const std::string& source, const std::string& target,
                        const std::string& user, const std::string& password) {
  return call(d, source, "GET", target, {{"Authorization", basic(user, password)}});
}

HttpResponse login(Deployment& d, const std::string& source, const std::string& user,
                   const std::string& password) {
  return call(d, source, "POST", "/login", {{"Content-Type", "application/json"}},
              json{{"username", user}, {"password", password}}.dump());
}

void make_superuser(Deployment& d, const std::string& name) {
  const CommandResult made = d.cli({"createsuperuser", "--username", name, "--noinput"},
                                   {{"CLOUDMETA_SUPERUSER_PASSWORD", kPassword}});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
}

}  // namespace

TEST_CASE("admin guessing: 25 wrong Basic guesses, then the right password is throttled too") {
  Deployment d;
  make_superuser(d, "admin");
  make_superuser(d, "other");
  d.start();
  std::map<int, int> statuses;
  for (int i = 0; i < 25; ++i) {
    const HttpResponse r =
        with_basic(d, "127.0.0.1", "/api/v1/instances", "admin", "guess " + std::to_string(i));
    ++statuses[r.status];
    if (r.status == 429) {
      REQUIRE(r.header("Retry-After"));
      CHECK(std::stoi(*r.header("Retry-After")) > 0);
    }
  }
  CHECK(statuses[401] == 10);
  CHECK(statuses[429] == 15);

  // The right password now gets 429 too, on every surface that checks passwords.
  CHECK(with_basic(d, "127.0.0.1", "/api/v1/instances", "admin", kPassword).status == 429);
  CHECK(with_basic(d, "127.0.0.1", "/metrics", "admin", kPassword).status == 429);
  CHECK(login(d, "127.0.0.1", "admin", kPassword).status == 429);
  // Another address of the same /24 is the same guesser, whatever the username.
  CHECK(with_basic(d, "127.0.0.99", "/api/v1/instances", "other", kPassword).status == 429);
  // From elsewhere, that username stays locked; other users are not.
  CHECK(login(d, "127.0.5.1", "admin", kPassword).status == 429);
  CHECK(with_basic(d, "127.0.5.1", "/api/v1/instances", "other", kPassword).status == 200);
  // Tokens are no password check: they keep working from the guesser's address.
  CHECK(d.admin("GET", "/api/v1/instances").status == 200);
  CHECK(d.admin("GET", "/metrics").status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("admin guessing: /login failures count against Basic as well") {
  Deployment d;
  make_superuser(d, "admin");
  d.start();
  for (int i = 0; i < 10; ++i) CHECK(login(d, "127.0.0.1", "admin", "guess").status == 401);
  CHECK(login(d, "127.0.0.1", "admin", "guess").status == 429);
  CHECK(with_basic(d, "127.0.7.1", "/api/v1/instances", "admin", kPassword).status == 429);
  CHECK(with_basic(d, "127.0.7.1", "/metrics", "admin", kPassword).status == 429);
  CHECK(d.stop() == 0);
}

// Guesses from many /24s and for many usernames are not throttled, so each costs an Argon2id
// check: they run one at a time on their own thread and the excess is refused at once (503),
// while token-authenticated requests and /healthz are answered meanwhile.
TEST_CASE("admin guessing: a flood of guesses does not hold up token requests") {
  Deployment d;
  d.start();
  constexpr int kFlooders = 12;
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::mutex mutex;
  std::map<int, int> statuses;
  std::vector<std::thread> flooders;
  for (int t = 0; t < kFlooders; ++t) {
    flooders.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string source =
            "127." + std::to_string(10 + t) + "." + std::to_string(i % 250) + ".1";
        int status = 0;
        try {
          status = with_basic(d, source, "/api/v1/instances",
                              "u" + std::to_string(t) + "-" + std::to_string(i), "guess")
                       .status;
        } catch (const std::exception&) {
          status = -1;
        }
        ++answered;
        std::lock_guard lock(mutex);
        ++statuses[status];
      }
    });
  }
  while (answered < kFlooders) std::this_thread::yield();

  for (int i = 0; i < 5; ++i) {
    CHECK(d.admin("GET", "/api/v1/instances").status == 200);
    CHECK(d.admin("GET", "/healthz").status == 200);
  }
  // The flood was still going when those were answered.
  const int before = answered;
  while (answered < before + kFlooders) std::this_thread::yield();
  stop = true;
  for (auto& t : flooders) t.join();

  std::lock_guard lock(mutex);
  CAPTURE(statuses[401]);
  CAPTURE(statuses[503]);
  CHECK(statuses[-1] == 0);
  CHECK(statuses[401] > 0);  // checked, one at a time
  CHECK(statuses[503] > 0);  // refused at once while the queue was full
  CHECK(statuses[401] + statuses[503] == answered);
  CHECK(d.stop() == 0);
}
