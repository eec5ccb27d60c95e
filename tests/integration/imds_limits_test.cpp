// Hostile and unusual input on the metadata surface over raw sockets: size limits, malformed
// requests, slow and idle clients, the per-source connection cap, keep-alive and pipelining.
// Timeouts are set short in the environment; the tests only assert that a close happens within a
// generous bound, never how fast.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "deployment.hpp"

using namespace cloudmeta::testing;

namespace {

constexpr char kVm[] = "127.0.0.51";
constexpr char kOtherVm[] = "127.0.0.52";
constexpr char kId[] = "i-0123456789abcdef2";
constexpr char kOtherId[] = "i-0123456789abcdef3";
constexpr auto kGenerous = std::chrono::seconds(10);

std::string get_request(const std::string& target, const std::string& connection = "keep-alive") {
  return to_wire({"GET", target, {{"Connection", connection}}});
}

// The server is still healthy: a fresh connection gets a normal answer.
void check_still_serving(Deployment& d) {
  CHECK(d.imds_get(kVm, "/latest/meta-data/instance-id").body == kId);
}

}  // namespace

TEST_CASE("imds wire: oversized request headers get 431 and the connection closes") {
  Deployment d;  // IMDS_HEADER_LIMIT defaults to 8 KiB
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection c(d.server().metadata_port(), kVm);
  c.send(
      to_wire({"GET", "/latest/meta-data/instance-id", {{"X-Padding", std::string(16384, 'a')}}}));
  const HttpResponse r = c.read_response();
  CHECK(r.status == 431);
  CHECK(r.header("Server") == "EC2ws");
  CHECK(c.read_until_closed(kGenerous).has_value());
  check_still_serving(d);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: the smallest IMDS_HEADER_LIMIT serves requests within it") {
  Deployment d(Environment{{"IMDS_HEADER_LIMIT", "1024"}});  // the documented minimum
  d.start();
  d.create_instance(instance_record(kId, kVm));

  const HttpResponse small =
      d.imds_get(kVm, "/latest/meta-data/instance-id", {{"X-Padding", std::string(500, 'a')}});
  CHECK(small.status == 200);
  CHECK(small.body == kId);

  HttpConnection c(d.server().metadata_port(), kVm);
  c.send(
      to_wire({"GET", "/latest/meta-data/instance-id", {{"X-Padding", std::string(2048, 'a')}}}));
  CHECK(c.read_response().status == 431);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a body over 1024 bytes on a metadata request gets 413") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection c(d.server().metadata_port(), kVm);
  c.send(to_wire({"PUT",
                  "/latest/api/token",
                  {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}},
                  std::string(1025, 'x')}));
  const HttpResponse r = c.read_response();
  CHECK(r.status == 413);
  CHECK(c.read_until_closed(kGenerous).has_value());

  // 1024 bytes is within the limit (the body is ignored).
  HttpConnection within(d.server().metadata_port(), kVm);
  within.send(to_wire({"PUT",
                       "/latest/api/token",
                       {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}, {"Connection", "close"}},
                       std::string(1024, 'x')}));
  CHECK(within.read_response().status == 200);
  check_still_serving(d);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a malformed request line gets 400 and the connection closes") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  for (const char* garbage :
       {"GET\r\n\r\n", "GET /latest/ HTTP/9.x\r\n\r\n", "G E T / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x01\x02\x03 / HTTP/1.1\r\n\r\n"}) {
    HttpConnection c(d.server().metadata_port(), kVm);
    c.send(garbage);
    const HttpResponse r = c.read_response();
    CHECK_MESSAGE(r.status == 400, "request: ", garbage);
    CHECK(c.read_until_closed(kGenerous).has_value());
  }
  check_still_serving(d);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a client that stalls mid-request is disconnected") {
  Deployment d(Environment{{"IMDS_READ_TIMEOUT_MS", "300"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection slow(d.server().metadata_port(), kVm);
  slow.send("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254");
  CHECK(slow.read_until_closed(kGenerous).has_value());

  HttpConnection silent(d.server().metadata_port(), kVm);  // connects, never sends a byte
  CHECK(silent.read_until_closed(kGenerous).has_value());
  check_still_serving(d);
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: an idle keep-alive connection is closed after the idle timeout") {
  Deployment d(Environment{{"IMDS_IDLE_TIMEOUT_MS", "300"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection c(d.server().metadata_port(), kVm);
  c.send(get_request("/latest/meta-data/instance-id"));
  const HttpResponse r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.header("Connection") == "keep-alive");
  const auto rest = c.read_until_closed(kGenerous);
  REQUIRE(rest.has_value());
  CHECK(rest->empty());
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: several requests on one keep-alive connection") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection c(d.server().metadata_port(), kVm);
  for (int i = 0; i < 5; ++i) {
    c.send(get_request("/latest/meta-data/instance-id"));
    const HttpResponse r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == kId);
  }
  // An error answer does not end a healthy connection either.
  c.send(get_request("/latest/meta-data/nothing-here"));
  CHECK(c.read_response().status == 404);
  c.send(to_wire({"HEAD", "/latest/meta-data/instance-id", {}}));
  CHECK(c.read_response(true).status == 200);
  c.send(get_request("/latest/meta-data/placement/availability-zone", "close"));
  const HttpResponse last = c.read_response();
  CHECK(last.body == "us-east-1a");
  CHECK(last.header("Connection") == "close");
  CHECK(c.read_until_closed(kGenerous).has_value());
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: pipelined requests are answered in order") {
  Deployment d;
  d.start();
  d.create_instance(instance_record(kId, kVm));

  HttpConnection c(d.server().metadata_port(), kVm);
  c.send(get_request("/latest/meta-data/instance-id") +
         get_request("/latest/meta-data/placement/availability-zone") +
         to_wire({"PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}}}) +
         get_request("/latest/meta-data/missing") +
         get_request("/latest/meta-data/instance-type", "close"));
  CHECK(c.read_response().body == kId);
  CHECK(c.read_response().body == "us-east-1a");
  const HttpResponse token = c.read_response();
  CHECK(token.status == 200);
  CHECK(token.header("X-aws-ec2-metadata-token-ttl-seconds") == "60");
  CHECK(c.read_response().status == 404);
  CHECK(c.read_response().body == "t3.micro");
  CHECK(c.read_until_closed(kGenerous).has_value());
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: connections beyond the per-source cap are closed at once") {
  Deployment d(Environment{{"IMDS_MAX_CONNECTIONS_PER_SOURCE", "3"},
                           {"IMDS_READ_TIMEOUT_MS", "60000"},
                           {"IMDS_IDLE_TIMEOUT_MS", "60000"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));
  d.create_instance(instance_record(kOtherId, kOtherVm));
  const auto port = d.server().metadata_port();

  // An answered request proves the server has admitted (and counted) the connection.
  std::vector<HttpConnection> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(port, kVm);
    held.back().send(get_request("/latest/meta-data/instance-id"));
    REQUIRE(held.back().read_response().status == 200);
  }

  // With timeouts of a minute, only the cap can close this one within the bound.
  HttpConnection fourth(port, kVm);
  const auto refused = fourth.read_until_closed(kGenerous);
  REQUIRE(refused.has_value());
  CHECK(refused->empty());  // closed without an answer

  // Another address is unaffected, and the held connections still work.
  CHECK(d.imds_get(kOtherVm, "/latest/meta-data/instance-id").body == kOtherId);
  held.front().send(get_request("/latest/meta-data/instance-id"));
  CHECK(held.front().read_response().body == kId);

  // Closing one frees its slot (the server notices the close asynchronously: poll).
  held.back().close();
  held.pop_back();
  bool served = false;
  const auto deadline = std::chrono::steady_clock::now() + kGenerous;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    try {
      HttpConnection again(port, kVm);
      again.send(get_request("/latest/meta-data/instance-id", "close"));
      served = again.read_response(false, std::chrono::seconds(2)).body == kId;
    } catch (const std::exception&) {
      // Refused while the old slot was still counted; try again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  CHECK(served);
  held.clear();  // open keep-alive connections would hold the shutdown for its grace period
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: a caller over IMDS_RATE_LIMIT gets 429 and others are served") {
  Deployment d(Environment{{"IMDS_RATE_LIMIT", "1"}, {"IMDS_RATE_BURST", "3"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));
  d.create_instance(instance_record(kOtherId, kOtherVm));

  // Ten requests at once: the burst of three passes, then the bucket is empty.
  HttpConnection c(d.server().metadata_port(), kVm);
  std::string burst;
  for (int i = 0; i < 10; ++i) burst += get_request("/latest/meta-data/instance-id");
  c.send(burst);
  std::vector<int> statuses;
  for (int i = 0; i < 10; ++i) statuses.push_back(c.read_response().status);
  CHECK(statuses[0] == 200);
  CHECK(statuses[1] == 200);
  CHECK(statuses[2] == 200);
  CHECK(std::count(statuses.begin(), statuses.end(), 429) >= 1);
  CHECK(std::count(statuses.begin(), statuses.end(), 200) +
            std::count(statuses.begin(), statuses.end(), 429) ==
        10);

  // The bucket is per caller: a neighbour is not throttled.
  CHECK(d.imds_get(kOtherVm, "/latest/meta-data/instance-id").body == kOtherId);
  c.close();  // an open keep-alive connection would hold the shutdown for its grace period
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: the server keeps serving after a burst of hostile input") {
  Deployment d(Environment{{"IMDS_READ_TIMEOUT_MS", "300"}});
  d.start();
  d.create_instance(instance_record(kId, kVm));
  const auto port = d.server().metadata_port();

  for (int i = 0; i < 20; ++i) {
    HttpConnection c(port, kVm);
    try {
      switch (i % 4) {
        case 0:
          c.send(std::string(20000, 'A'));
          break;  // no request line
        case 1:
          c.send("GET /latest/meta-data/ HTTP/1.1\r\n");
          break;  // abandoned half-way
        case 2:
          c.send(std::string("\0\0\0\0\r\n\r\n", 8));
          break;  // binary noise
        default:
          break;  // connect, hang up
      }
    } catch (const std::system_error&) {
      // The server may already have refused and closed: that is its right.
    }
  }
  check_still_serving(d);
  CHECK(d.server().running());
  CHECK(d.stop() == 0);
}

TEST_CASE("imds wire: SIGTERM with connections still open past the grace period exits 0") {
  // The io_contexts destroy these sessions at exit, and each gives its connection slot back to
  // a limiter that must still exist then (ConnectionLimiter aborts the process otherwise).
  Deployment d(Environment{{"SHUTDOWN_GRACE", "0"}, {"THREADS", "1"},
                           {"IMDS_READ_TIMEOUT_MS", "60000"}, {"ADMIN_READ_TIMEOUT_MS", "60000"}});
  d.start();
  HttpConnection mid_request(d.server().metadata_port(), kVm);
  mid_request.send("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254");
  HttpConnection admin_mid_request(d.server().admin_port());
  admin_mid_request.send("GET /healthz HTTP/1.1\r\nHost: local");
  // One thread per surface accepts in order: once these later requests are answered, both
  // partial ones have their sessions.
  d.create_instance(instance_record(kId, kVm));
  check_still_serving(d);
  CHECK(d.stop() == 0);
}
