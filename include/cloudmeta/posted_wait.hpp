// A metadata connection waiting, at most a bound, for work another thread does for it (a DHCP
// guest's address learned, an identity document signed). The worker never touches the
// connection: it posts its outcome to the connection's own executor, where the waiting
// coroutine's timer is cancelled; an outcome that comes after the wait ended finds no timer and
// is only noted. Single-threaded on the connection's side, so it needs no lock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "cloudmeta/asio.hpp"

namespace cloudmeta {

class PostedWait {
 public:
  // The worker's end: call it once with the outcome, from any thread.
  static std::function<void(bool)> completion(std::shared_ptr<PostedWait> wait,
                                              net::any_io_executor executor) {
    return [wait = std::move(wait), executor = std::move(executor)](bool done) {
      net::post(executor, [wait, done] {
        wait->done_ = done;
        if (wait->timer_) wait->timer_->cancel();
      });
    };
  }

  // The connection's end, on the executor given to completion(): true when the worker reported
  // success within `limit`. The outcome is posted to this thread, so it cannot arrive before
  // the wait begins.
  static net::awaitable<bool> await(std::shared_ptr<PostedWait> wait,
                                    std::chrono::steady_clock::duration limit) {
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(limit);
    wait->timer_ = &timer;
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    wait->timer_ = nullptr;
    co_return wait->done_;
  }

 private:
  net::steady_timer* timer_ = nullptr;
  bool done_ = false;
};

}  // namespace cloudmeta
