// ThreadHeartbeat, what the systemd watchdog's keep-alive depends on: true while every metadata
// thread runs the probes posted to it, false from the first round a thread does not (stuck in a
// handler), true again once it runs its handlers.
#include "runtime/thread_heartbeat.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <initializer_list>
#include <thread>
#include <vector>

using namespace cloudmeta;

namespace {

// Returns once each of these io_context threads has run what was posted to it before the call:
// each runs its handlers in order, so a marker posted now runs after them. (A fixed sleep was
// too short on a loaded machine: the probe had not run yet, and a live thread looked stuck.)
void settle(std::initializer_list<net::io_context*> contexts) {
  for (auto* context : contexts) {
    std::promise<void> ran;
    auto marker = ran.get_future();
    net::post(*context, [&ran] { ran.set_value(); });
    REQUIRE(marker.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  }
}

}  // namespace

TEST_CASE("ThreadHeartbeat: alive while every thread runs its probes, not while one is stuck") {
  net::io_context first(1), second(1);
  auto work_first = net::make_work_guard(first);
  auto work_second = net::make_work_guard(second);
  std::thread t1([&] { first.run(); });
  std::thread t2([&] { second.run(); });

  ThreadHeartbeat heartbeat({first.get_executor(), second.get_executor()});
  CHECK(heartbeat.beat());  // nothing asked yet
  settle({&first, &second});
  CHECK(heartbeat.beat());
  settle({&first, &second});
  CHECK(heartbeat.beat());

  // The second thread is wedged in a handler: the probe posted behind it does not run.
  std::promise<void> release;
  std::atomic<bool> entered{false};
  net::post(second, [&] {
    entered = true;
    release.get_future().wait();
  });
  while (!entered) std::this_thread::yield();
  heartbeat.beat();  // the probe it posts waits behind the stuck handler
  settle({&first});  // the second cannot settle: it is stuck
  CHECK_FALSE(heartbeat.beat());
  settle({&first});
  CHECK_FALSE(heartbeat.beat());

  release.set_value();
  settle({&first, &second});
  CHECK(heartbeat.beat());

  work_first.reset();
  work_second.reset();
  first.stop();
  second.stop();
  t1.join();
  t2.join();
}
