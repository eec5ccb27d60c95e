#include "http/snapshot_cache.hpp"

#include <chrono>
#include <future>
#include <thread>

#include <doctest/doctest.h>

namespace net = boost::asio;
using cloudmeta::Snapshot;
using cloudmeta::SnapshotHolder;
using cloudmeta::http_server::current_snapshot;
using cloudmeta::http_server::refresh_caches_on_publish;

namespace {

// A metadata thread: one io_context run by one thread, kept running while it has nothing to do.
struct IdleThread {
  net::io_context io{1};
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  ~IdleThread() {
    work.reset();
    thread.join();
  }

  // Serves a "request" on the thread: loads the snapshot as a session does.
  const Snapshot* serve(const SnapshotHolder& holder) {
    std::promise<const Snapshot*> seen;
    net::post(io, [&] { seen.set_value(current_snapshot(holder).get()); });
    return seen.get_future().get();
  }
};

bool expires_within(const std::weak_ptr<const Snapshot>& snapshot, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!snapshot.expired() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return snapshot.expired();
}

}  // namespace

TEST_CASE("a superseded snapshot is freed though the thread that cached it serves nothing more") {
  SnapshotHolder holder;
  IdleThread idle;
  IdleThread busy;
  refresh_caches_on_publish(holder, {idle.io.get_executor(), busy.io.get_executor()});

  auto first = std::make_shared<const Snapshot>();
  const std::weak_ptr<const Snapshot> first_seen = first;
  holder.publish(std::move(first));
  CHECK(idle.serve(holder) == first_seen.lock().get());
  CHECK(busy.serve(holder) == first_seen.lock().get());

  auto second = std::make_shared<const Snapshot>();
  const Snapshot* const second_address = second.get();
  holder.publish(std::move(second));
  // Only the busy thread serves again; the idle one must let the first snapshot go regardless.
  CHECK(busy.serve(holder) == second_address);
  CHECK(expires_within(first_seen, std::chrono::seconds(10)));
  // And it serves the current one when asked again.
  CHECK(idle.serve(holder) == second_address);
}

TEST_CASE("a thread's cache follows the holder's generation on its next request") {
  SnapshotHolder holder;
  IdleThread thread;
  auto first = std::make_shared<const Snapshot>();
  holder.publish(first);
  CHECK(thread.serve(holder) == first.get());
  auto second = std::make_shared<const Snapshot>();
  holder.publish(second);
  CHECK(thread.serve(holder) == second.get());
}
