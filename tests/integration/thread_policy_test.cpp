// The running server's threads: with ADMIN_SCHED_IDLE=1 the admin thread (the main one) and the
// snapshot rebuild thread at SCHED_IDLE, every metadata thread (and the identity signing thread,
// which works for guests) at the normal policy
// (thread_priority.hpp); by default all of them normal. Read from /proc, as `ps -L -o cls` would.
#include <doctest/doctest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <chrono>

#include "deployment.hpp"

using namespace cloudmeta::testing;

namespace {

// Thread id -> scheduling policy (field 41 of /proc/PID/task/TID/stat).
std::map<long, int> thread_policies(pid_t pid) {
  std::map<long, int> out;
  for (const auto& task : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "stat");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // the name may hold spaces
    std::string field;
    for (int i = 3; i <= 41 && fields >> field; ++i) {
      if (i == 41) out[std::stol(task.path().filename().string())] = std::stoi(field);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("server threads: ADMIN_SCHED_IDLE=1 puts admin and rebuilds at SCHED_IDLE, not metadata") {
  Deployment d(Environment{{"THREADS", "2"}, {"ADMIN_SCHED_IDLE", "1"}});
  const pid_t pid = d.start().pid();
  // The server logs that it listens before its threads have all started and lowered themselves.
  std::map<long, int> policies;
  int idle = 0, normal = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    policies = thread_policies(pid);
    idle = normal = 0;
    for (const auto& [tid, policy] : policies) {
      if (policy == SCHED_IDLE) ++idle;
      if (policy == SCHED_OTHER) ++normal;
    }
  } while (idle < 2 && std::chrono::steady_clock::now() < deadline);
  CHECK(policies.at(pid) == SCHED_IDLE);  // the admin surface runs on the main thread
  CHECK(idle == 2);                       // it and the rebuild thread
  // THREADS=2 metadata threads, and the identity signing thread: its work is a guest's request
  // waiting (cloudmeta/identity_signing.hpp), not the admin side's.
  CHECK(normal == 3);
  CHECK(d.imds_get("127.0.0.1", "/latest/meta-data/").status == 404);  // still answering
  CHECK(d.stop() == 0);
}

TEST_CASE("server threads: by default every thread keeps the normal policy") {
  Deployment d(Environment{{"THREADS", "2"}});
  const pid_t pid = d.start().pid();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // every thread started
  for (const auto& entry : thread_policies(pid)) {
    const auto& [tid, policy] = entry;
    CAPTURE(entry.first);  // doctest's CAPTURE is a lambda: clang 14 cannot capture a binding
    CHECK(policy == SCHED_OTHER);
  }
  CHECK(d.stop() == 0);
}
