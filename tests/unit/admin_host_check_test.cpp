// The admin surface's Host check against DNS rebinding (admin/host_check.hpp), as a pure function.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "host_check.hpp"

using cloudmeta::admin::host_allowed;

TEST_CASE("host check: IP literals always, names from the list, ports ignored") {
  const std::vector<std::string> names = {"localhost", "admin.example"};
  for (const char* host : {"127.0.0.1", "127.0.0.1:8001", "10.1.2.3:443", "[::1]", "[::1]:8001",
                           "::1", "169.254.169.254", "localhost", "LOCALHOST:8001",
                           "localhost.:8001", "admin.example", "Admin.Example:443", ""}) {
    CAPTURE(host);
    CHECK(host_allowed(host, names));
  }
  for (const char* host : {"evil.example", "evil.example:8001", "127.0.0.1.nip.io:8001",
                           "localhost.evil.example", "admin.example.evil", "[::1", "[::1]x",
                           "[evil]:80", "localhost:http", "localhost:", "127.0.0.1:99999x",
                           "0x7f.1:8001", "2130706433:8001"}) {
    CAPTURE(host);
    CHECK_FALSE(host_allowed(host, names));
  }
  CHECK(host_allowed("anything.example:1", {"*"}));
  CHECK_FALSE(host_allowed("localhost", {"admin.example"}));
}
