// RenderedInstance: everything one VM can read from the metadata surface, rendered once per
// record change (never per request) as a flat map from normalised path to node. Paths have no
// version prefix and no leading/trailing slash: "" (the version root), "meta-data",
// "meta-data/placement/availability-zone", "dynamic/instance-identity/document", "user-data".
// Directory listings are derived from the leaves, so they cannot drift from them.
// Immutable after render(); safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta {

enum class ContentType : std::uint8_t { kTextPlain, kOctetStream };

struct Node {
  std::string body;  // a leaf's value, or a directory's listing (one name per line)
  bool is_dir = false;
  ContentType content_type = ContentType::kTextPlain;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

// What the record says the VM's frames carry, for CALLER_BINDING (never served): the record's
// own `mac` (lower case; empty when the record has none, whatever meta-data/mac derives) and
// `interface`.
struct LinkBinding {
  std::string mac;
  std::string interface;
};

class RenderedInstance {
 public:
  using NodeMap = std::unordered_map<std::string, Node, StringHash, std::equal_to<>>;

  RenderedInstance(std::string instance_id, MetadataOptions options, NodeMap nodes,
                   LinkBinding binding = {})
      : instance_id_(std::move(instance_id)), options_(options), nodes_(std::move(nodes)),
        binding_(std::move(binding)) {}

  const Node* find(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  const std::string& instance_id() const { return instance_id_; }
  const MetadataOptions& options() const { return options_; }
  const NodeMap& nodes() const { return nodes_; }
  const LinkBinding& binding() const { return binding_; }

 private:
  std::string instance_id_;
  MetadataOptions options_;
  NodeMap nodes_;
  LinkBinding binding_;
};

// Renders a validated record with AWS-like defaults for unset fields (docs/metadata.md).
// Throws ValidationError{"extra", ...} when the extra tree collides with the built-in tree
// (a leaf where a directory is, or the reverse) or holds a non-string leaf.
std::shared_ptr<const RenderedInstance> render(const InstanceRecord& record);

}  // namespace cloudmeta
