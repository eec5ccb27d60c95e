#include "password_checker.hpp"

#include <array>

#include <sodium.h>

#include "cloudmeta/passwords.hpp"

namespace cloudmeta::admin {

namespace {

// A hash of a random password, made on the worker the first time it is needed.
const std::string& decoy_hash() {
  static const std::string hash = [] {
    std::array<unsigned char, 16> raw;
    randombytes_buf(raw.data(), raw.size());
    return hash_password(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  }();
  return hash;
}

// On the worker thread. Parameters are copied into the coroutine frame, which outlives the
// caller's wait either way.
net::awaitable<bool> verify_on_worker(std::string password, std::string hash) {
  bool match = false;
  if (hash.empty()) {
    (void)verify_password(password, decoy_hash());
  } else {
    match = verify_password(password, hash);
  }
  sodium_memzero(password.data(), password.size());
  co_return match;
}

}  // namespace

PasswordChecker::PasswordChecker() = default;

PasswordChecker::~PasswordChecker() {
  if (worker_) worker_->join();
}

net::awaitable<PasswordChecker::Verdict> PasswordChecker::verify(std::string password,
                                                                 std::string hash) {
  if (in_flight_ > kMaxWaiting) {
    sodium_memzero(password.data(), password.size());
    co_return Verdict::kBusy;
  }
  if (!worker_) worker_.emplace(1);
  ++in_flight_;
  struct Done {
    std::size_t& count;
    ~Done() { --count; }
  } done{in_flight_};
  net::awaitable<bool> work = verify_on_worker(std::move(password), std::move(hash));
  const bool match = co_await net::co_spawn(*worker_, std::move(work), net::use_awaitable);
  co_return match ? Verdict::kMatch : Verdict::kMismatch;
}

}  // namespace cloudmeta::admin
