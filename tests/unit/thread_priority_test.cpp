// yield_to_metadata_threads: the calling thread, and only it, moves to SCHED_IDLE; threads it
// creates afterwards inherit the policy (why app.cpp calls it only after the metadata threads
// exist).
#include "runtime/thread_priority.hpp"

#include <doctest/doctest.h>
#include <sched.h>

#include <thread>

using namespace cloudmeta;

TEST_CASE("yield_to_metadata_threads: this thread only, and what it starts afterwards") {
  const int before = ::sched_getscheduler(0);
  REQUIRE(before != SCHED_IDLE);
  int in_thread = -1, in_sibling = -1, in_child = -1;
  bool took = false;
  std::thread yielding([&] {
    took = yield_to_metadata_threads();
    in_thread = ::sched_getscheduler(0);
    std::thread child([&] { in_child = ::sched_getscheduler(0); });
    child.join();
  });
  yielding.join();
  std::thread sibling([&] { in_sibling = ::sched_getscheduler(0); });
  sibling.join();

  CHECK(took);
  CHECK(in_thread == SCHED_IDLE);
  CHECK(in_child == SCHED_IDLE);
  CHECK(in_sibling == before);
  CHECK(::sched_getscheduler(0) == before);
}
