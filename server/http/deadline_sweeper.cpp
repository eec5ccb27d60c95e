#include "http/deadline_sweeper.hpp"

namespace cloudmeta::http_server {

DeadlineSweeper::Watched::Watched(std::shared_ptr<DeadlineSweeper> sweeper, tcp::socket& socket)
    : sweeper_(std::move(sweeper)), socket_(socket) {
  sweeper_->link(*this);
}

DeadlineSweeper::Watched::~Watched() { sweeper_->unlink(*this); }

void DeadlineSweeper::link(Watched& w) {
  w.next_ = head_;
  if (head_) head_->prev_ = &w;
  head_ = &w;
  ++count_;
  if (!sweeping_) {
    sweeping_ = true;
    net::co_spawn(timer_.get_executor(), sweep(shared_from_this()), net::detached);
  }
}

void DeadlineSweeper::unlink(Watched& w) {
  if (cursor_ == &w) cursor_ = w.next_;
  if (w.prev_) {
    w.prev_->next_ = w.next_;
  } else {
    head_ = w.next_;
  }
  if (w.next_) w.next_->prev_ = w.prev_;
  w.prev_ = w.next_ = nullptr;
  --count_;
}

void DeadlineSweeper::drain() {
  draining_ = true;
  beast::error_code ec;
  for (Watched* w = head_; w; w = w->next_) {
    if (w->idle_ && w->socket_.is_open()) w->socket_.close(ec);
  }
}

void DeadlineSweeper::check(Clock::time_point now) {
  // Closing a socket only queues its pending operations' failures: no session runs (and
  // unlinks) during this walk. Bounded twice, so a tick costs tens of microseconds at any
  // connection count: at most kChecksPerTick connections are looked at, from where the last tick
  // stopped (with 10,000 open, each is looked at every 0.5 s: the frames they live in are cache
  // misses), and at most kMaxClosesPerTick are closed (10,000 connections timing out together,
  // a slow-client flood, would otherwise stall this thread's requests for the tens of
  // milliseconds their close() calls take).
  beast::error_code ec;
  std::size_t checked = 0, closed = 0;
  if (!cursor_) cursor_ = head_;
  while (cursor_ && checked < kChecksPerTick && closed < kMaxClosesPerTick) {
    Watched* w = cursor_;
    cursor_ = w->next_;
    ++checked;
    if (w->deadline_ <= now && w->socket_.is_open()) {
      w->socket_.close(ec);
      ++closed;
    }
    if (!cursor_ && checked < count_) cursor_ = head_;  // wrap, once round at most
  }
}

net::awaitable<void> DeadlineSweeper::sweep(std::shared_ptr<DeadlineSweeper> self) {
  // Runs until a tick finds no connection; link() starts it again.
  while (self->count_ > 0) {
    self->timer_.expires_after(kTick);
    beast::error_code ec;
    co_await self->timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
    const auto now = Clock::now();
    self->check(now);
  }
  self->sweeping_ = false;
}

}  // namespace cloudmeta::http_server
