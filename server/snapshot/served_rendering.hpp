// What the snapshot holds for a record: its rendering, or nothing for a stopped instance, which
// the metadata surface then answers exactly as an unknown caller (the path a record that cannot
// be rendered takes, with nothing logged: stopping is not an error). Deciding it here, when an
// entry is rendered, keeps the request path as it was: no state check per request. Throws
// what render() throws. Thread-safe. Private to server/snapshot/.
#pragma once

#include <memory>

#include "cloudmeta/instance_record.hpp"
#include "cloudmeta/metadata_tree.hpp"

namespace cloudmeta {

inline std::shared_ptr<const RenderedInstance> served_rendering(const InstanceRecord& record) {
  if (record.state == InstanceState::kStopped) return nullptr;
  return render(record);
}

}  // namespace cloudmeta
