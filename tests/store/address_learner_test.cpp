// AddressLearner on a SQLite store: a metadata connection's learn is written on the learner's
// thread and completes the connection's wait; the per-MAC rate limit keeps a second learn of the
// same MAC within a second out of the queue; a learn the stored record's binding refuses leaves
// it alone; each result is counted.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/fleet.hpp"
#include "cloudmeta/metrics.hpp"
#include "cloudmeta/record_json.hpp"
#include "cloudmeta/snapshot.hpp"
#include "cloudmeta/store.hpp"
#include "http/address_learner.hpp"
#include "store_backends.hpp"

namespace {

namespace cm = cloudmeta;
using cm::http_server::AddressLearner;
using cm::metrics::LearnResult;

std::uint64_t counted(LearnResult r) {
  return cm::metrics::registry().sample().address_learning[static_cast<std::size_t>(r)];
}

// Submits the request as a metadata connection does and runs its wait to the end.
std::optional<bool> learn(AddressLearner& learner, const AddressLearner::Request& request) {
  cm::net::io_context io;
  auto pending = learner.submit(request, io.get_executor());
  if (!pending) return std::nullopt;
  std::optional<bool> out;
  cm::net::co_spawn(io, AddressLearner::await(pending),
                    [&out](std::exception_ptr, bool learned) { out = learned; });
  io.run();
  return out;
}

}  // namespace

TEST_CASE("address learner: learns on its thread, one learn per MAC per second, refusals counted") {
  cm::testing::SqliteBackend backend;
  auto store = cm::open_store(backend.url());
  store->migrate();
  cm::SnapshotHolder snapshots;
  cm::Fleet fleet(*store, snapshots);
  fleet.load_all();
  fleet.create(cm::record_from_json(
      {{"instance_id", "i-0ddddddddddddd021"}, {"mac", "0e:00:5e:00:00:21"}, {"interface", "vhd"}}));
  fleet.create(cm::record_from_json(
      {{"instance_id", "i-0ddddddddddddd022"}, {"mac", "0e:00:5e:00:00:22"}, {"interface", "vhe"}}));
  AddressLearner learner(fleet, cm::CallerBinding::kPort);

  const auto learned_before = counted(LearnResult::kLearned);
  const auto limited_before = counted(LearnResult::kRateLimited);
  const auto refused_before = counted(LearnResult::kRefused);

  const AddressLearner::Request d{*cm::IpKey::parse("198.18.0.21"), "i-0ddddddddddddd021",
                                  cm::LinkPeer{"0e:00:5e:00:00:21", "vhd"}};
  CHECK(learn(learner, d) == true);
  CHECK(snapshots.load()->find(*cm::IpKey::parse("198.18.0.21"))->instance_id() ==
        "i-0ddddddddddddd021");
  CHECK(counted(LearnResult::kLearned) == learned_before + 1);

  // The same MAC again at once: not queued.
  AddressLearner::Request again = d;
  again.address = *cm::IpKey::parse("198.18.0.29");
  CHECK(learn(learner, again) == std::nullopt);
  CHECK(counted(LearnResult::kRateLimited) == limited_before + 1);
  CHECK(store->find_instance("i-0ddddddddddddd021")->ip == "198.18.0.21");

  // The other guest's MAC seen on the wrong port: refused by its stored record's binding.
  const AddressLearner::Request forged{*cm::IpKey::parse("198.18.0.23"), "i-0ddddddddddddd022",
                                       cm::LinkPeer{"0e:00:5e:00:00:22", "vhd"}};
  CHECK(learn(learner, forged) == false);
  CHECK(counted(LearnResult::kRefused) == refused_before + 1);
  CHECK(store->find_instance("i-0ddddddddddddd022")->ip.empty());
  learner.stop();
}
