// The admin page's building blocks without sockets or a database: signed session cookies, CSRF
// tokens, the same-origin check, cookie parsing, the failed-login limiter and audit field diffs.
#include <doctest/doctest.h>

#include <array>

#include <nlohmann/json.hpp>

#include "audit.hpp"
#include "login_limiter.hpp"
#include "session_keys.hpp"
#include "web_auth.hpp"

namespace cm = cloudmeta;
using cm::admin::LoginLimiter;
using cm::admin::SessionKeys;
using nlohmann::json;

namespace {

cm::admin::Request request_with(std::initializer_list<std::pair<const char*, const char*>> fields,
                                cm::http::verb method = cm::http::verb::post) {
  cm::admin::Request r{method, "/api/v1/instances", 11};
  for (const auto& [name, value] : fields) r.insert(name, value);
  return r;
}

}  // namespace

TEST_CASE("admin web: a signed session cookie verifies only under the same SECRET_KEY") {
  const SessionKeys keys("a-secret-key-that-is-long-enough-0123456789");
  const std::string id = SessionKeys::new_session_id();
  CHECK(id.size() == 43);
  CHECK(id != SessionKeys::new_session_id());
  const std::string cookie = keys.sign(id);
  CHECK(keys.verify(cookie) == id);
  CHECK_FALSE(SessionKeys("another-secret-key-that-is-long-enough-0123").verify(cookie));
  std::string tampered = cookie;
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  CHECK_FALSE(keys.verify(tampered));
  CHECK_FALSE(keys.verify(id));
  CHECK_FALSE(keys.verify(""));
  CHECK_FALSE(keys.verify("." + cookie.substr(cookie.find('.') + 1)));
}

TEST_CASE("admin web: the CSRF token belongs to one session and is not the cookie signature") {
  const SessionKeys keys("a-secret-key-that-is-long-enough-0123456789");
  const std::string a = SessionKeys::new_session_id();
  const std::string b = SessionKeys::new_session_id();
  CHECK(keys.csrf_matches(a, keys.csrf_token(a)));
  CHECK_FALSE(keys.csrf_matches(b, keys.csrf_token(a)));
  CHECK_FALSE(keys.csrf_matches(a, ""));
  const std::string cookie = keys.sign(a);
  CHECK_FALSE(keys.csrf_matches(a, cookie.substr(cookie.find('.') + 1)));
  CHECK(cm::admin::session_id_hash(a).size() == 64);
  CHECK(cm::admin::session_id_hash(a) != cm::admin::session_id_hash(b));
}

TEST_CASE("admin web: cookies are found among others, and the Set-Cookie value is strict") {
  const auto r = request_with({{"Cookie", "a=1; cloudmeta_session=abc.def ; b=2"}});
  CHECK(cm::admin::cookie_value(r, "cloudmeta_session") ==
        std::optional<std::string_view>("abc.def"));
  CHECK_FALSE(cm::admin::cookie_value(r, "missing"));
  const std::string plain = cm::admin::session_cookie("v", 60, false);
  CHECK(plain == "cloudmeta_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
  CHECK(cm::admin::session_cookie("v", 60, true).ends_with("; Secure"));
}

TEST_CASE("admin web: same_origin compares Origin with Host, else trusts Sec-Fetch-Site") {
  using cm::admin::same_origin;
  CHECK(
      same_origin(request_with({{"Host", "127.0.0.1:8001"}, {"Origin", "http://127.0.0.1:8001"}})));
  CHECK(
      same_origin(request_with({{"Host", "admin.example"}, {"Origin", "https://admin.example"}})));
  CHECK_FALSE(
      same_origin(request_with({{"Host", "127.0.0.1:8001"}, {"Origin", "http://evil.example"}})));
  CHECK_FALSE(same_origin(request_with({{"Host", "127.0.0.1:8001"}, {"Origin", "null"}})));
  CHECK_FALSE(same_origin(request_with({{"Host", "a"}, {"Sec-Fetch-Site", "cross-site"}})));
  CHECK(same_origin(request_with({{"Host", "a"}, {"Sec-Fetch-Site", "same-origin"}})));
  CHECK(same_origin(request_with({{"Host", "a"}})));  // curl: no browser, no CSRF
}

TEST_CASE("admin web: failed passwords are limited per address range and per username") {
  LoginLimiter limiter;
  const auto ip = [](const char* text) { return *cm::IpKey::parse(text); };
  const std::int64_t t = 1'000'000;
  for (int i = 0; i < LoginLimiter::kMaxFailures; ++i) {
    CHECK(limiter.retry_after(ip("10.0.0.1"), "admin", t) == 0);
    limiter.charge(ip("10.0.0.1"), "admin", t);
  }
  // Another address in the same /24 is the same guesser.
  CHECK(limiter.retry_after(ip("10.0.0.77"), "someone", t) == LoginLimiter::kWindow.count());
  CHECK(limiter.retry_after(ip("10.0.1.1"), "admin", t + 10) ==
        LoginLimiter::kWindow.count() - 10);
  CHECK(limiter.retry_after(ip("10.0.1.1"), "other", t) == 0);
  CHECK(limiter.retry_after(ip("10.0.0.1"), "admin", t + LoginLimiter::kWindow.count()) == 0);
}

TEST_CASE("admin web: IPv6 guessers are limited per /64, a forgiven attempt does not count") {
  LoginLimiter limiter;
  const auto ip = [](const char* text) { return *cm::IpKey::parse(text); };
  CHECK(LoginLimiter::address_range(ip("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64");
  CHECK(LoginLimiter::address_range(ip("192.0.2.200")) == "192.0.2.0/24");
  CHECK(LoginLimiter::address_range(ip("::ffff:192.0.2.200")) == "192.0.2.0/24");
  const std::int64_t t = 1'000'000;
  for (int i = 0; i < LoginLimiter::kMaxFailures; ++i) {
    const std::string address = "2001:db8:1:2::" + std::to_string(i + 1);
    limiter.charge(ip(address.c_str()), "user" + std::to_string(i), t);
  }
  CHECK(limiter.retry_after(ip("2001:db8:1:2:ffff::9"), "new", t) > 0);
  CHECK(limiter.retry_after(ip("2001:db8:1:3::1"), "new", t) == 0);
  limiter.forgive(ip("2001:db8:1:2::1"), "user0", t);  // that one was the right password
  CHECK(limiter.retry_after(ip("2001:db8:1:2:ffff::9"), "new", t) == 0);
}

TEST_CASE("admin web: the limiter's memory is bounded and keeps throttled keys longest") {
  LoginLimiter limiter;
  const std::int64_t t = 1'000'000;
  const auto blocked = *cm::IpKey::parse("203.0.113.1");
  for (int i = 0; i < LoginLimiter::kMaxFailures; ++i) limiter.charge(blocked, "admin", t);
  for (std::size_t i = 0; i < LoginLimiter::kMaxTracked + 100; ++i) {
    std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
    v6[4] = static_cast<std::uint8_t>(i >> 16);
    v6[5] = static_cast<std::uint8_t>(i >> 8);
    v6[6] = static_cast<std::uint8_t>(i);
    limiter.charge(cm::IpKey::from_v6(v6), "u" + std::to_string(i), t);
  }
  CHECK(limiter.tracked() <= 2 * LoginLimiter::kMaxTracked);
  CHECK(limiter.retry_after(blocked, "someone", t) > 0);
  CHECK(limiter.retry_after(*cm::IpKey::parse("198.51.100.1"), "admin", t) > 0);
}

TEST_CASE("admin web: audit names the fields that changed, one level into objects") {
  const json before = {{"hostname", "a"},
                       {"tags", {{"Name", "x"}, {"env", "prod"}}},
                       {"updated_at", "1"},
                       {"ip", "10.0.0.1"}};
  const json after = {{"hostname", "b"},
                      {"tags", {{"Name", "x"}, {"team", "web"}}},
                      {"updated_at", "2"},
                      {"ip", "10.0.0.1"}};
  CHECK(cm::admin::changed_fields(before, after) ==
        json::array({"hostname", "tags.env", "tags.team"}));
  CHECK(cm::admin::changed_fields(nullptr, json{{"ip", "10.0.0.1"}, {"mac", ""}, {"tags", {}}}) ==
        json::array({"ip"}));
  CHECK(cm::admin::changed_fields(before, before).empty());
}
