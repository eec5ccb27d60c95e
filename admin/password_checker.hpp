// Runs Argon2id verifications (64 MiB, tens of milliseconds each) on a thread of their own, one
// at a time, so that password guesses can neither hold up the admin thread (token-authenticated
// requests, /healthz, the systemd watchdog) nor use more than one verification's memory. At most
// kMaxWaiting checks wait behind the running one; more are refused at once (kBusy) instead of
// queueing without bound. verify() must be awaited from one thread (the admin thread); the
// coroutine resumes there. The worker starts with the first check, from that thread, so that it
// inherits the admin thread's scheduling policy (ADMIN_SCHED_IDLE, runtime/thread_priority.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "cloudmeta/asio.hpp"

namespace cloudmeta::admin {

class PasswordChecker {
 public:
  static constexpr std::size_t kMaxWaiting = 4;
  enum class Verdict { kMatch, kMismatch, kBusy };

  PasswordChecker();
  ~PasswordChecker();  // waits for the running check
  PasswordChecker(const PasswordChecker&) = delete;
  PasswordChecker& operator=(const PasswordChecker&) = delete;

  // `hash` empty: checks against a decoy hash (an unknown username costs the same work as a wrong
  // password, so response times do not tell which usernames exist) and never matches.
  net::awaitable<Verdict> verify(std::string password, std::string hash);

  std::size_t in_flight() const { return in_flight_; }

 private:
  std::optional<net::thread_pool> worker_;  // one thread, from the first check on
  std::size_t in_flight_ = 0;  // running + waiting; touched only on the awaiting thread
};

}  // namespace cloudmeta::admin
