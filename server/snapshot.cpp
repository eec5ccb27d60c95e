#include "cloudmeta/snapshot.hpp"

namespace cloudmeta {

std::shared_ptr<const Snapshot> Snapshot::build(const std::vector<InstanceRecord>& records,
                                                std::int64_t revision,
                                                std::vector<std::string>* skipped) {
  ByIp by_ip;
  by_ip.reserve(records.size());
  for (const auto& record : records) {
    auto key = IpKey::parse(record.ip);
    try {
      if (!key) throw std::invalid_argument("bad ip");
      by_ip[*key] = render(record);
    } catch (const std::exception&) {
      if (skipped) skipped->push_back(record.instance_id);
    }
  }
  return std::make_shared<const Snapshot>(std::move(by_ip), revision);
}

std::shared_ptr<const Snapshot> Snapshot::with(const std::string& old_ip,
                                               std::shared_ptr<const RenderedInstance> rendered,
                                               const std::string& ip,
                                               std::int64_t revision) const {
  ByIp next = by_ip_;  // copies pointers only; unchanged instances are shared
  if (auto old_key = IpKey::parse(old_ip)) next.erase(*old_key);
  if (auto key = IpKey::parse(ip)) next[*key] = std::move(rendered);
  return std::make_shared<const Snapshot>(std::move(next), revision);
}

std::shared_ptr<const Snapshot> Snapshot::without(const std::string& ip,
                                                  std::int64_t revision) const {
  ByIp next = by_ip_;
  if (auto key = IpKey::parse(ip)) next.erase(*key);
  return std::make_shared<const Snapshot>(std::move(next), revision);
}

}  // namespace cloudmeta
