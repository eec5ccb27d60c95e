#include "http/address_learner.hpp"

#include <memory>
#include <utility>

#include "cloudmeta/log.hpp"
#include "cloudmeta/snapshot.hpp"

namespace cloudmeta::http_server {
namespace {

using metrics::LearnResult;

void count(LearnResult result) { metrics::registry().count_address_learning(result); }

std::string_view outcome_name(Fleet::LearnOutcome outcome) {
  switch (outcome) {
    case Fleet::LearnOutcome::kLearned: return "learned";
    case Fleet::LearnOutcome::kAlreadyThere: return "already_there";
    case Fleet::LearnOutcome::kNotLearnable: return "not_learnable";
    case Fleet::LearnOutcome::kRefused: return "binding_mismatch";
    case Fleet::LearnOutcome::kAddressTaken: return "address_taken";
  }
  return "not_learnable";
}

}  // namespace

AddressLearner::AddressLearner(Fleet& fleet, CallerBinding mode)
    : fleet_(fleet), mode_(mode), thread_([this] { run(); }) {}

AddressLearner::~AddressLearner() { stop(); }

void AddressLearner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool AddressLearner::enqueue(const Request& request, Done done) {
  const auto mac = parse_mac(request.seen.mac);
  if (!mac) return false;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    if (recent_.size() >= kMaxRecentMacs) {
      std::erase_if(recent_, [now](const auto& entry) { return now - entry.second >= kMacInterval; });
    }
    const auto it = recent_.find(*mac);
    if (it != recent_.end() && now - it->second < kMacInterval) {
      count(LearnResult::kRateLimited);
      return false;
    }
    if (queue_.size() >= kQueueLimit || recent_.size() >= kMaxRecentMacs) {
      count(LearnResult::kDropped);
      return false;
    }
    recent_[*mac] = now;
    queue_.push_back({request, std::move(done)});
  }
  wake_.notify_one();
  return true;
}

void AddressLearner::run() {
  for (;;) {
    Queued next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    next.done(learn(next.request));
  }
}

bool AddressLearner::learn(const Request& request) {
  const std::string address = request.address.to_string();
  const auto check = [this, &request](const InstanceRecord& stored) {
    return check_binding(mode_, LinkBinding{stored.mac, stored.interface}, request.seen) ==
           BindingRefusal::kNone;
  };
  Fleet::Learned learned;
  try {
    learned = fleet_.learn(request.instance_id, request.seen.mac, address, check);
  } catch (const std::exception& e) {
    // The store did not take it (unavailable, read-only): the guest's next connection asks again.
    count(LearnResult::kFailed);
    log_error("address_learn_failed", {{"address", address},
                                       {"mac", std::string_view(request.seen.mac)},
                                       {"instance", std::string_view(request.instance_id)},
                                       {"error", e.what()}});
    return false;
  }
  switch (learned.outcome) {
    case Fleet::LearnOutcome::kLearned:
      count(LearnResult::kLearned);
      log_info("address_learned",
               {{"address", address},
                {"previous", learned.previous_ip.empty() ? std::string_view("-")
                                                         : std::string_view(learned.previous_ip)},
                {"mac", std::string_view(request.seen.mac)},
                {"port", request.seen.port.empty() ? std::string_view("-")
                                                   : std::string_view(request.seen.port)},
                {"instance", std::string_view(request.instance_id)},
                {"taken_from", learned.holder.empty() ? std::string_view("-")
                                                      : std::string_view(learned.holder)}});
      return true;
    case Fleet::LearnOutcome::kAlreadyThere:
      return true;
    case Fleet::LearnOutcome::kNotLearnable:
    case Fleet::LearnOutcome::kRefused:
    case Fleet::LearnOutcome::kAddressTaken:
      break;
  }
  count(LearnResult::kRefused);
  log_warn("address_learn_refused",
           {{"address", address},
            {"mac", std::string_view(request.seen.mac)},
            {"port", request.seen.port.empty() ? std::string_view("-")
                                               : std::string_view(request.seen.port)},
            {"instance", std::string_view(request.instance_id)},
            {"reason", outcome_name(learned.outcome)},
            {"holder", learned.holder.empty() ? std::string_view("-")
                                              : std::string_view(learned.holder)}});
  return false;
}

// The request is copied into the queue here, before any suspension, whatever the compiler does
// with coroutine parameters.
std::shared_ptr<AddressLearner::Pending> AddressLearner::submit(
    const Request& request, const net::any_io_executor& executor) {
  auto pending = std::make_shared<Pending>();
  return enqueue(request, PostedWait::completion(pending, executor)) ? pending : nullptr;
}

}  // namespace cloudmeta::http_server
