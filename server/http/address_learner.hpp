// DHCP guests (docs/hypervisor.md, "DHCP guests"): a caller whose address matches no record,
// but whose address the kernel resolves to the MAC of a learnable record, gets that record's
// address learned, through Fleet (the store, the change log, every host) like any admin write.
// Metadata threads never touch the store: they queue a learn here, and a thread of its own
// writes it while the asking connection waits at most kWait (AddressLearner::await).
//
// Guarded against a guest that floods it: one learn per MAC per kMacInterval (later ones are
// not queued), at most kQueueLimit queued (more are dropped), each counted in /metrics
// (cloudmeta_address_learning_total) and never blocking a metadata thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/caller_binding.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metrics.hpp"
#include "cloudmeta/posted_wait.hpp"

namespace cloudmeta::http_server {

class AddressLearner {
 public:
  // How long a metadata connection waits for its learn before it is answered as an unknown
  // caller (404); the learn then completes in the background and the guest's next request is
  // served. A store write takes milliseconds; a Postgres that does not answer takes up to
  // DATABASE_TIMEOUT_MS, which a booting guest must not wait for.
  static constexpr auto kWait = std::chrono::milliseconds(500);
  static constexpr std::size_t kQueueLimit = 64;
  static constexpr auto kMacInterval = std::chrono::seconds(1);
  // MACs remembered for the interval above; beyond this many within one interval, learns are
  // dropped (a guest cycling through forged MACs cannot grow the table without bound).
  static constexpr std::size_t kMaxRecentMacs = 4096;

  struct Request {
    IpKey address;            // the caller's, to be learned
    std::string instance_id;  // the learnable record the snapshot names for the MAC
    LinkPeer seen;            // what the kernel saw of the caller (its MAC and bridge port)
  };

  // Starts the learning thread. `mode` is CALLER_BINDING (mac or port): the stored record's
  // binding is checked against what was seen, as for any caller.
  AddressLearner(Fleet& fleet, CallerBinding mode);
  ~AddressLearner();
  AddressLearner(const AddressLearner&) = delete;
  AddressLearner& operator=(const AddressLearner&) = delete;

  // A queued learn, as the connection that asked waits for it.
  using Pending = PostedWait;
  // Metadata thread: queues the learn (the request is copied before this returns); its
  // completion is posted to `executor`, the connection's. nullptr when it is not queued.
  std::shared_ptr<Pending> submit(const Request& request, const net::any_io_executor& executor);
  // Waits at most kWait for a learn submit() queued. True when the address was learned (or
  // found learned) by then: the served snapshot holds it.
  static net::awaitable<bool> await(std::shared_ptr<Pending> pending) {
    return PostedWait::await(std::move(pending), kWait);
  }

  // Ends the thread; queued learns are dropped. Before the metadata io_contexts go: a learn's
  // completion is posted to the connection's thread.
  void stop();

 private:
  using Done = std::function<void(bool learned)>;
  struct Queued {
    Request request;
    Done done;
  };
  // False (and counted) when the MAC learned within kMacInterval or the queue is full.
  bool enqueue(const Request& request, Done done);
  void run();
  bool learn(const Request& request);

  Fleet& fleet_;
  const CallerBinding mode_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> recent_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cloudmeta::http_server
