// DeadlineSweeper: the read and idle deadlines of one metadata thread's connections, checked on
// one coarse tick instead of one timer per connection.
//
// A timer per connection costs a timerfd_settime system call each time it becomes, or stops
// being, the earliest of its thread's timers (two to three per short connection), plus a
// watchdog coroutine and a shared control block: a fifth of a new-connection request's cost
// (docs/benchmarks.md). Here a connection costs a list insert and erase; a deadline fires at
// most kTick late while a thread has up to kChecksPerTick connections (with more, each is checked
// every count / kChecksPerTick ticks: 0.5 s at 10,000), never early. The tick runs only while the thread has connections, so an idle
// server does not wake up.
//
// One per metadata I/O thread; every call on that thread. Shared by its connections: a session
// frame destroyed with its io_context at exit still finds its sweeper to leave.
#pragma once

#include <chrono>
#include <memory>

#include "cloudmeta/asio.hpp"

namespace cloudmeta::http_server {

class DeadlineSweeper : public std::enable_shared_from_this<DeadlineSweeper> {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kTick = std::chrono::milliseconds(100);
  static constexpr std::size_t kChecksPerTick = 2048;
  static constexpr std::size_t kMaxClosesPerTick = 1000;

  // A connection's place in its thread's list. Joins on construction, leaves on destruction.
  class Watched {
   public:
    Watched(std::shared_ptr<DeadlineSweeper> sweeper, tcp::socket& socket);
    ~Watched();
    Watched(const Watched&) = delete;
    Watched& operator=(const Watched&) = delete;

    // The socket is closed (its pending operations fail) once the clock passes `deadline`.
    void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }
    // Idle: waiting for a request's first byte. drain() closes idle connections at once.
    void set_idle(bool idle) { idle_ = idle; }

   private:
    friend class DeadlineSweeper;
    std::shared_ptr<DeadlineSweeper> sweeper_;
    tcp::socket& socket_;
    Clock::time_point deadline_ = Clock::time_point::max();
    bool idle_ = false;
    Watched* prev_ = nullptr;
    Watched* next_ = nullptr;
  };

  explicit DeadlineSweeper(net::any_io_executor executor) : timer_(std::move(executor)) {}
  DeadlineSweeper(const DeadlineSweeper&) = delete;
  DeadlineSweeper& operator=(const DeadlineSweeper&) = delete;

  std::size_t watched() const { return count_; }

  // Shutting down: closes the connections that are idle now; a session that finishes its
  // in-flight request then closes instead of waiting for another (draining()).
  void drain();
  bool draining() const { return draining_; }

 private:
  void link(Watched& w);
  void unlink(Watched& w);
  void check(Clock::time_point now);
  static net::awaitable<void> sweep(std::shared_ptr<DeadlineSweeper> self);

  net::steady_timer timer_;
  Watched* head_ = nullptr;
  Watched* cursor_ = nullptr;  // where the next tick's check starts
  std::size_t count_ = 0;
  bool sweeping_ = false;
  bool draining_ = false;
};

}  // namespace cloudmeta::http_server
