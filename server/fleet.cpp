#include "cloudmeta/fleet.hpp"

#include "cloudmeta/log.hpp"

namespace cloudmeta {

void Fleet::load_all() {
  // Read the revision first: a write racing with the listing then shows up as a newer revision
  // on the next refresh instead of being missed.
  const auto revision = store_.revision();
  auto records = store_.list_instances();
  std::vector<std::string> skipped;
  auto snapshot = Snapshot::build(records, revision, &skipped);
  for (const auto& id : skipped) {
    log_error("instance_not_served", {{"instance", id}, {"reason", "record fails to render"}});
  }
  log_info("snapshot_loaded", {{"instances", snapshot->size()}, {"revision", revision}});
  snapshots_.publish(std::move(snapshot));
}

template <class Fn>
auto Fleet::tracking_staleness(Fn&& fn) {
  try {
    auto result = fn();
    stale_since_.reset();
    return result;
  } catch (...) {
    if (!stale_since_) stale_since_ = std::chrono::steady_clock::now();
    throw;
  }
}

bool Fleet::refresh_if_changed() {
  return tracking_staleness([this] {
    if (store_.revision() == snapshots_.load()->revision()) return false;
    load_all();
    return true;
  });
}

void Fleet::resync() {
  tracking_staleness([this] {
    load_all();
    return true;
  });
}

std::chrono::seconds Fleet::stale_for() const {
  if (!stale_since_) return std::chrono::seconds(0);
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                          *stale_since_);
}

InstanceRecord Fleet::create(const InstanceRecord& record) {
  render(record);  // refuse what could not be served, before anything is stored
  auto stored = store_.insert_instance(record);
  publish_change("", stored);
  return stored;
}

InstanceRecord Fleet::replace(const InstanceRecord& record) {
  render(record);
  auto before = store_.find_instance(record.instance_id);
  if (!before) throw StoreError(StoreError::Kind::kNotFound, "instance " + record.instance_id + " not found");
  auto stored = store_.update_instance(record);
  publish_change(before->ip, stored);
  return stored;
}

bool Fleet::remove(std::string_view instance_id) {
  auto before = store_.find_instance(instance_id);
  if (!before || !store_.delete_instance(instance_id)) return false;
  auto current = snapshots_.load();
  const auto revision = store_.revision();
  if (revision != current->revision() + 1) {
    load_all();
  } else {
    snapshots_.publish(current->without(before->ip, revision));
  }
  return true;
}

void Fleet::publish_change(const std::string& old_ip, const InstanceRecord& stored) {
  auto current = snapshots_.load();
  const auto revision = store_.revision();
  // Another writer (the CLI, another host) changed the store since our last publish: only a full
  // reload is sure to match it. Otherwise patch just this record.
  if (revision != current->revision() + 1) return load_all();
  snapshots_.publish(current->with(old_ip, render(stored), stored.ip, revision));
}

}  // namespace cloudmeta
