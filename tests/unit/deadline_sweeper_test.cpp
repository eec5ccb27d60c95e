// DeadlineSweeper: closes a connection once its deadline passes (never before), leaves the others
// alone, and stops ticking when its thread has no connection left.
#include "http/deadline_sweeper.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>

using namespace cloudmeta;
using cloudmeta::http_server::DeadlineSweeper;
using Clock = std::chrono::steady_clock;

namespace {

// A connected loopback pair: the server side is the one watched.
struct Pair {
  explicit Pair(net::io_context& io) : server(io), client(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  tcp::socket server;
  tcp::socket client;
};

}  // namespace

TEST_CASE("a passed deadline closes the socket, within one tick and not before") {
  net::io_context io;
  auto sweeper = std::make_shared<DeadlineSweeper>(io.get_executor());
  Pair late(io), kept(io);
  const auto start = Clock::now();
  std::optional<Clock::time_point> closed_at;
  {
    DeadlineSweeper::Watched watched_late(sweeper, late.server);
    DeadlineSweeper::Watched watched_kept(sweeper, kept.server);
    watched_late.set_deadline(start + std::chrono::milliseconds(150));
    watched_kept.set_deadline(start + std::chrono::hours(1));
    CHECK(sweeper->watched() == 2);

    // What a session does: a read pending until data arrives or the socket is closed.
    char byte = 0;
    late.server.async_read_some(net::buffer(&byte, 1), [&](beast::error_code ec, std::size_t) {
      CHECK(ec == net::error::operation_aborted);
      closed_at = Clock::now();
    });
    while (!closed_at && Clock::now() - start < std::chrono::seconds(5)) io.run_one();
    REQUIRE(closed_at);
    CHECK(*closed_at - start >= std::chrono::milliseconds(150));
    CHECK(*closed_at - start < std::chrono::milliseconds(150) + 3 * DeadlineSweeper::kTick);
    CHECK_FALSE(late.server.is_open());
    CHECK(kept.server.is_open());
  }
  CHECK(sweeper->watched() == 0);
  // With nothing watched, the sweep ends after its next tick and the io_context runs out of work:
  // an idle server does not keep waking up.
  const auto idle_start = Clock::now();
  io.run();
  CHECK(Clock::now() - idle_start < std::chrono::seconds(2));
}

TEST_CASE("moving a deadline later keeps the connection open") {
  net::io_context io;
  auto sweeper = std::make_shared<DeadlineSweeper>(io.get_executor());
  Pair pair(io);
  DeadlineSweeper::Watched watched(sweeper, pair.server);
  watched.set_deadline(Clock::now() + std::chrono::milliseconds(100));
  io.run_for(std::chrono::milliseconds(50));
  watched.set_deadline(Clock::now() + std::chrono::hours(1));
  io.run_for(std::chrono::milliseconds(300));
  CHECK(pair.server.is_open());
  watched.set_deadline(Clock::now());  // earlier than before: honoured too
  io.run_for(std::chrono::milliseconds(300));
  CHECK_FALSE(pair.server.is_open());
}

TEST_CASE("drain closes idle connections at once and leaves busy ones to finish") {
  net::io_context io;
  auto sweeper = std::make_shared<DeadlineSweeper>(io.get_executor());
  Pair idle(io), busy(io);
  DeadlineSweeper::Watched watched_idle(sweeper, idle.server);
  DeadlineSweeper::Watched watched_busy(sweeper, busy.server);
  watched_idle.set_deadline(Clock::now() + std::chrono::hours(1));
  watched_busy.set_deadline(Clock::now() + std::chrono::hours(1));
  watched_idle.set_idle(true);
  watched_busy.set_idle(false);
  CHECK_FALSE(sweeper->draining());
  sweeper->drain();
  CHECK(sweeper->draining());
  CHECK_FALSE(idle.server.is_open());
  CHECK(busy.server.is_open());
}
