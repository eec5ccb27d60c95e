// RenderedInstance: everything one VM can read from the metadata surface, rendered once per
// record change (never per request) as a flat map from normalised path to node. Paths have no
// version prefix and no leading/trailing slash: "" (the version root), "meta-data",
// "meta-data/placement/availability-zone", "dynamic/instance-identity/document", "user-data".
// Directory listings are derived from the leaves, so they cannot drift from them.
// Immutable after render(); safe to share between threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cloudmeta/instance_record.hpp"

namespace cloudmeta {

enum class ContentType : std::uint8_t { kTextPlain, kOctetStream };

// The identity document's signatures (dynamic/instance-identity/pkcs7, signature, rsa2048):
// leaves whose body is not rendered but signed, on the first request for one of them
// (cloudmeta/identity_signing.hpp), and kept with the rendering from then on.
enum class SignedLeaf : std::uint8_t { kNone, kPkcs7, kSignature, kRsa2048 };

struct Node {
  std::string body;  // a leaf's value, or a directory's listing (one name per line)
  bool is_dir = false;
  ContentType content_type = ContentType::kTextPlain;
  SignedLeaf signed_leaf = SignedLeaf::kNone;  // when set, body is empty: see signatures()
};

// The three signatures of one identity document, in the form AWS serves them.
struct IdentitySignatures {
  std::string pkcs7;
  std::string signature;
  std::string rsa2048;

  const std::string& of(SignedLeaf leaf) const {
    return leaf == SignedLeaf::kPkcs7 ? pkcs7 : leaf == SignedLeaf::kSignature ? signature : rsa2048;
  }
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
                   LinkBinding binding = {}, std::int64_t document_time = 0)
      : instance_id_(std::move(instance_id)), options_(options), nodes_(std::move(nodes)),
        binding_(std::move(binding)), document_time_(document_time) {}
  ~RenderedInstance() { delete signatures_.load(std::memory_order_acquire); }
  RenderedInstance(const RenderedInstance&) = delete;
  RenderedInstance& operator=(const RenderedInstance&) = delete;

  const Node* find(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  const std::string& instance_id() const { return instance_id_; }
  const MetadataOptions& options() const { return options_; }
  const NodeMap& nodes() const { return nodes_; }
  const LinkBinding& binding() const { return binding_; }

  // The identity document's signatures once signed (nullptr before): set once, by the signing
  // thread, and then read by any metadata thread without a lock for as long as this rendering
  // lives. A changed record is a new rendering, so signatures never go stale.
  const IdentitySignatures* signatures() const {
    return signatures_.load(std::memory_order_acquire);
  }
  // The first call wins; later ones (a second signing of the same document) are discarded.
  void set_signatures(std::unique_ptr<IdentitySignatures> signatures) const {
    const IdentitySignatures* expected = nullptr;
    if (signatures_.compare_exchange_strong(expected, signatures.get(),
                                            std::memory_order_acq_rel)) {
      signatures.release();
    }
  }
  // The record's last change (Unix seconds; 0 when unknown): the signatures' signing time, so
  // that every host of a fleet signs a document alike.
  std::int64_t document_time() const { return document_time_; }

 private:
  std::string instance_id_;
  MetadataOptions options_;
  NodeMap nodes_;
  LinkBinding binding_;
  std::int64_t document_time_ = 0;
  mutable std::atomic<const IdentitySignatures*> signatures_{nullptr};
};

// Renders a validated record with AWS-like defaults for unset fields (docs/metadata.md).
// Throws ValidationError{"extra", ...} when the extra tree collides with the built-in tree
// (a leaf where a directory is, or the reverse) or holds a non-string leaf.
std::shared_ptr<const RenderedInstance> render(const InstanceRecord& record);

}  // namespace cloudmeta
