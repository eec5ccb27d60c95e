#include "pg_pool.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace cloudmeta::store {
namespace {

using namespace std::chrono_literals;
constexpr std::chrono::milliseconds kFirstBackoff = 100ms;
constexpr std::chrono::milliseconds kMaxBackoff = 5s;

}  // namespace

PgPool::PgPool(std::string url, std::size_t size, std::chrono::milliseconds wait,
               std::chrono::milliseconds timeout)
    : url_(std::move(url)), size_(size < 1 ? 1 : size), wait_(wait), timeout_(timeout) {}

PgPool::Lease::~Lease() {
  if (connection_) pool_->give_back(std::move(connection_));
}

PgPool::Lease PgPool::acquire() {
  std::unique_lock lock(mutex_);
  const bool available = returned_.wait_for(lock, wait_, [this] {
    return !idle_.empty() || open_ < size_;
  });
  if (!available) {
    throw StoreError(StoreError::Kind::kUnavailable,
                     "connection pool exhausted: " + std::to_string(size_) +
                         " connections busy for " + std::to_string(wait_.count()) +
                         " ms (DATABASE_POOL_SIZE, DATABASE_POOL_TIMEOUT_MS)");
  }
  if (!idle_.empty()) {
    // The most recently used: warm, and its prepared statements are the likeliest to exist.
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(connection));
  }
  const auto now = Clock::now();
  if (now < retry_at_) {
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count() + 1;
    throw StoreError(StoreError::Kind::kUnavailable,
                     last_error_ + " (next attempt in " + std::to_string(wait_ms) + " ms)");
  }
  ++open_;  // counted before connecting, so concurrent callers never open more than size_
  lock.unlock();
  try {
    auto connection = std::make_unique<PgConnection>(url_, timeout_);
    lock.lock();
    backoff_ = std::chrono::milliseconds(0);
    retry_at_ = {};
    lock.unlock();
    return Lease(*this, std::move(connection));
  } catch (const StoreError& e) {
    lock.lock();
    --open_;
    if (e.kind() == StoreError::Kind::kUnavailable) note_unreachable_locked(e.what());
    lock.unlock();
    returned_.notify_one();
    throw;
  } catch (...) {
    lock.lock();
    --open_;
    lock.unlock();
    returned_.notify_one();
    throw;
  }
}

void PgPool::note_unreachable_locked(const std::string& error) {
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  retry_at_ = Clock::now() + backoff_;
  last_error_ = error;
}

void PgPool::give_back(std::unique_ptr<PgConnection> connection) noexcept {
  std::vector<std::unique_ptr<PgConnection>> closing;
  {
    std::lock_guard lock(mutex_);
    if (connection->reusable()) {
      idle_.push_back(std::move(connection));
    } else {
      // A broken connection most often means the server restarted or failed over, which broke
      // the idle ones too: close them all, so one caller finds out instead of one per connection.
      closing = std::move(idle_);
      idle_.clear();
      if (connection->timed_out()) {
        note_unreachable_locked("PostgreSQL did not answer within " +
                                std::to_string(timeout_.count()) + " ms (DATABASE_TIMEOUT_MS)");
      }
      closing.push_back(std::move(connection));
      open_ -= closing.size();
    }
  }
  returned_.notify_all();
  closing.clear();  // outside the lock: PQfinish may wait on the socket
}

std::size_t PgPool::open_connections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

}  // namespace cloudmeta::store
