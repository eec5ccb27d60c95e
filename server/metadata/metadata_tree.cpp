// render(): an InstanceRecord -> the flat path -> Node map one VM reads (metadata_tree.hpp).
// Leaves are added explicitly; every directory listing is derived from the leaves below it, so
// listings cannot drift from what is served. The two AWS listing quirks are applied on top:
// the version root lists its children without trailing '/', and public-keys lists `N=name`.
#include "cloudmeta/metadata_tree.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cloudmeta/record_json.hpp"
#include "metadata/aws_json.hpp"
#include "metadata/identity_document.hpp"
#include "metadata/metadata_defaults.hpp"

namespace cloudmeta {
namespace {

constexpr std::string_view kMetaData = "meta-data/";
constexpr std::string_view kPublicKeys = "meta-data/public-keys";

struct Leaf {
  std::string path;
  std::string body;
  ContentType content_type = ContentType::kTextPlain;
  bool from_extra = false;
  SignedLeaf signed_leaf = SignedLeaf::kNone;
};

using Leaves = std::vector<Leaf>;

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

std::string concat(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(a.size() + b.size());
  out += a;
  out += b;
  return out;
}

// Adds leaves below one directory ("meta-data/", "meta-data/placement/", ...).
class Dir {
 public:
  Dir(Leaves& leaves, std::string prefix) : leaves_(leaves), prefix_(std::move(prefix)) {}
  void add(std::string_view name, std::string body) const {
    leaves_.push_back(Leaf{concat(prefix_, name), std::move(body)});
  }
  void add_if_set(std::string_view name, const std::string& body) const {
    if (!body.empty()) add(name, body);
  }
  // A leaf signed on its first request, not rendered (metadata_tree.hpp, SignedLeaf).
  void add_signed(std::string_view name, SignedLeaf leaf) const {
    leaves_.push_back(Leaf{concat(prefix_, name), {}, ContentType::kTextPlain, false, leaf});
  }
  Dir sub(std::string_view name) const { return Dir(leaves_, concat(prefix_, name) + '/'); }

 private:
  Leaves& leaves_;
  std::string prefix_;
};

nlohmann::ordered_json timestamp_or_null(const std::string& rfc3339) {
  if (auto ts = defaults::aws_timestamp(rfc3339)) return std::move(*ts);
  return nullptr;
}

// iam/info and iam/security-credentials/<role>, in the field order AWS prints
// (imds-reference §1.3); 404 (absent) without a role, as on an instance without a profile.
void add_iam(const InstanceRecord& r, const defaults::Effective& e, const Dir& meta) {
  if (r.iam.role.empty()) return;
  Dir iam = meta.sub("iam");
  nlohmann::ordered_json info;
  info["Code"] = "Success";
  info["LastUpdated"] = timestamp_or_null(r.updated_at);
  info["InstanceProfileArn"] = "arn:" + std::string(defaults::partition(e.region)) +
                               ":iam::" + e.account_id + ":instance-profile/" + r.iam.role;
  info["InstanceProfileId"] = defaults::instance_profile_id(e.account_id, r.iam.role);
  iam.add("info", aws_pretty_json(info));

  nlohmann::ordered_json creds;
  creds["Code"] = "Success";
  creds["LastUpdated"] = timestamp_or_null(r.updated_at);
  creds["Type"] = "AWS-HMAC";
  creds["AccessKeyId"] = r.iam.access_key_id;
  creds["SecretAccessKey"] = r.iam.secret_access_key;
  creds["Token"] = r.iam.token;
  creds["Expiration"] = r.iam.expiration;
  iam.sub("security-credentials").add(r.iam.role, aws_pretty_json(creds));
}

// network/interfaces/macs/<mac>/: device 0 only (imds-reference §1.4). Multi-valued keys are
// newline-separated with the primary first; cloud-init reads lines [1:] as secondaries.
void add_interface(const InstanceRecord& r, const defaults::Effective& e, const Dir& meta) {
  Dir mac = meta.sub("network").sub("interfaces").sub("macs").sub(e.mac);
  mac.add("device-number", "0");
  mac.add("interface-id", e.interface_id);
  mac.add("local-hostname", e.local_hostname);
  std::vector<std::string> ipv4s;
  ipv4s.reserve(1 + r.secondary_ipv4s.size());
  if (!e.local_ipv4.empty()) ipv4s.push_back(e.local_ipv4);
  ipv4s.insert(ipv4s.end(), r.secondary_ipv4s.begin(), r.secondary_ipv4s.end());
  mac.add_if_set("local-ipv4s", join_lines(ipv4s));
  mac.add("mac", e.mac);
  mac.add("owner-id", e.account_id);
  mac.add_if_set("public-hostname", r.public_hostname);
  mac.add_if_set("public-ipv4s", r.public_ipv4);
  if (!r.public_ipv4.empty() && !e.local_ipv4.empty()) {
    mac.sub("ipv4-associations").add(r.public_ipv4, e.local_ipv4);
  }
  mac.add("security-groups", join_lines(e.security_groups));
  mac.add("security-group-ids", join_lines(e.security_group_ids));
  mac.add("subnet-id", e.subnet_id);
  mac.add_if_set("subnet-ipv4-cidr-block", e.subnet_ipv4_cidr_block);
  mac.add("vpc-id", e.vpc_id);
  mac.add_if_set("vpc-ipv4-cidr-block", e.vpc_ipv4_cidr_block);
  mac.add_if_set("vpc-ipv4-cidr-blocks", e.vpc_ipv4_cidr_block);
  mac.add_if_set("ipv6s", join_lines(e.ipv6s));
}

void add_meta_data(const InstanceRecord& r, const defaults::Effective& e, Leaves& leaves) {
  const Dir meta(leaves, std::string(kMetaData));
  meta.add("ami-id", e.ami_id);
  meta.add("ami-launch-index", std::to_string(r.ami_launch_index));
  meta.add("ami-manifest-path", e.ami_manifest_path);

  // The record's entries are laid over the AMI's root device, so adding ebs1 keeps ami/root.
  std::map<std::string, std::string, std::less<>> devices = {
      {"ami", std::string(defaults::kRootDevice)}, {"root", std::string(defaults::kRootDevice)}};
  for (const auto& [name, device] : r.block_device_mapping) devices[name] = device;
  const Dir bdm = meta.sub("block-device-mapping");
  for (auto& [name, device] : devices) bdm.add(name, std::move(device));

  meta.sub("events").sub("maintenance").add("scheduled", "[]");  // AWS: [] when none
  meta.add("hostname", e.hostname);
  add_iam(r, e, meta);
  meta.add("instance-action", e.instance_action);
  meta.add("instance-id", r.instance_id);
  meta.add("instance-life-cycle", e.instance_life_cycle);
  meta.add("instance-type", e.instance_type);
  if (!e.ipv6s.empty()) meta.add("ipv6", e.ipv6s.front());
  meta.add_if_set("kernel-id", r.kernel_id);
  meta.add("local-hostname", e.local_hostname);
  meta.add_if_set("local-ipv4", e.local_ipv4);  // 404 on IPv6-only instances
  meta.add("mac", e.mac);
  add_interface(r, e, meta);

  const Dir placement = meta.sub("placement");
  placement.add("availability-zone", e.availability_zone);
  placement.add("availability-zone-id", e.availability_zone_id);
  placement.add("region", e.region);

  meta.add_if_set("public-hostname", r.public_hostname);
  meta.add_if_set("public-ipv4", r.public_ipv4);
  // Keys are indexed in name order; the public-keys listing itself is set in finish().
  std::size_t index = 0;
  for (const auto& [name, key] : r.public_keys) {
    meta.sub("public-keys").sub(std::to_string(index++)).add("openssh-key", key);
  }
  meta.add_if_set("ramdisk-id", r.ramdisk_id);
  meta.add("reservation-id", e.reservation_id);
  meta.add("security-groups", join_lines(e.security_groups));

  const Dir services = meta.sub("services");
  services.add("domain", std::string(defaults::service_domain(e.region)));
  services.add("partition", std::string(defaults::partition(e.region)));

  // AWS serves tags only with InstanceMetadataTags=enabled; otherwise tags/ is 404.
  if (r.metadata_options.instance_metadata_tags) {
    const Dir tags = meta.sub("tags").sub("instance");
    for (const auto& [key, value] : r.tags) tags.add(key, value);
  }
}

void add_dynamic(const InstanceRecord& r, const defaults::Effective& e, Leaves& leaves) {
  const Dir dynamic(leaves, "dynamic/");
  dynamic.sub("fws").add("instance-monitoring", "disabled");
  const Dir identity = dynamic.sub("instance-identity");
  identity.add("document", identity_document(r, e));
  identity.add_signed("pkcs7", SignedLeaf::kPkcs7);
  identity.add_signed("rsa2048", SignedLeaf::kRsa2048);
  identity.add_signed("signature", SignedLeaf::kSignature);
}

// "2024-05-01T10:20:30Z" (aws_timestamp's form) -> Unix seconds; 0 when absent or unparsable.
std::int64_t unix_time(const std::string& rfc3339) {
  const auto ts = defaults::aws_timestamp(rfc3339);
  if (!ts) return 0;
  std::tm tm{};
  if (std::sscanf(ts->c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm));
}

// "meta-data/placement/region" -> "extra.placement.region", the JSON field at fault. Only for
// paths whose names were checked to hold no '/'.
std::string extra_field(std::string_view tree_path) {
  std::string out = "extra.";
  if (tree_path.starts_with(kMetaData)) tree_path.remove_prefix(kMetaData.size());
  for (char c : tree_path) out += c == '/' ? '.' : c;
  return out;
}

class ExtraOverlay {
 public:
  // `leaves` must not grow while the overlay exists: the index views their paths.
  explicit ExtraOverlay(Leaves& leaves) : leaves_(leaves) {
    index_.reserve(leaves.size());
    for (std::size_t i = 0; i < leaves.size(); ++i) index_.emplace(leaves[i].path, i);
  }

  // New paths are returned rather than appended, for the reason above.
  Leaves apply(const nlohmann::json& extra) {
    std::string path(kMetaData);
    path.pop_back();
    std::string field = "extra";
    walk(extra, path, field);
    return std::move(added_);
  }

 private:
  // `path` is the tree path, `field` the JSON field path for errors; both grow and shrink back.
  void walk(const nlohmann::json& object, std::string& path, std::string& field) {
    for (const auto& [name, value] : object.items()) {
      const std::size_t old_path_size = path.size();
      const std::size_t old_field_size = field.size();
      path += '/';
      path += name;
      field += '.';
      field += name;
      // A name must be one path segment that the path normaliser keeps as it is, and one line
      // of its parent's listing.
      if (name.empty() || name == "." || name == ".." ||
          std::any_of(name.begin(), name.end(),
                      [](char c) { return c == '/' || static_cast<unsigned char>(c) < 0x20; })) {
        throw ValidationError(field,
                              "names must be non-empty, not . or .., and hold no '/' or control "
                              "characters");
      }
      if (value.is_object()) {
        walk(value, path, field);
      } else if (value.is_string()) {
        add_leaf(path, value.get_ref<const std::string&>());
      } else {
        throw ValidationError(field, "values must be strings or objects");
      }
      path.resize(old_path_size);
      field.resize(old_field_size);
    }
  }

  void add_leaf(const std::string& path, const std::string& body) {
    auto it = index_.find(path);
    if (it != index_.end()) {
      leaves_[it->second].body = body;
      leaves_[it->second].from_extra = true;
      return;
    }
    // public-keys/ lists `N=name` from public_keys; a new path there would not be listed.
    if (path == kPublicKeys || path.starts_with(concat(kPublicKeys, "/"))) {
      throw ValidationError(extra_field(path),
                            "public-keys is rendered from public_keys; only its values can be "
                            "overridden");
    }
    added_.push_back(Leaf{path, body, ContentType::kTextPlain, true});
  }

  Leaves& leaves_;
  Leaves added_;
  std::unordered_map<std::string_view, std::size_t> index_;
};

// One (directory, child) edge of the tree, viewing a leaf's path.
struct Edge {
  std::string_view dir;
  std::string_view name;
  bool child_is_dir;
  std::size_t leaf;  // the leaf the edge came from, to name it in an error

  auto key() const { return std::tie(dir, name, child_is_dir); }
};

// True if `dir` is a proper ancestor directory of `path`.
bool is_ancestor(std::string_view dir, std::string_view path) {
  return path.size() > dir.size() && path[dir.size()] == '/' && path.starts_with(dir);
}

std::vector<Edge> collect_edges(const Leaves& leaves) {
  std::vector<Edge> edges;
  edges.reserve(leaves.size() * 2);
  std::string_view previous;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    std::string_view path = leaves[i].path;
    bool is_dir = false;
    // Walk up until reaching a directory the previous leaf also lives in: that leaf already
    // contributed the edges above it. Leaves come grouped by directory, so this usually stops
    // after one or two edges and keeps the sort below small.
    while (!is_dir || !is_ancestor(path, previous)) {
      const auto slash = path.rfind('/');
      if (slash == std::string_view::npos) {
        edges.push_back(Edge{std::string_view(), path, is_dir, i});
        break;
      }
      edges.push_back(Edge{path.substr(0, slash), path.substr(slash + 1), is_dir, i});
      path = path.substr(0, slash);
      is_dir = true;
    }
    previous = leaves[i].path;
  }
  std::sort(edges.begin(), edges.end(),
            [](const Edge& a, const Edge& b) { return a.key() < b.key(); });
  edges.erase(std::unique(edges.begin(), edges.end(),
                          [](const Edge& a, const Edge& b) { return a.key() == b.key(); }),
              edges.end());
  return edges;
}

// Built-in paths never collide; extra's tree shape cannot collide with itself. So a name that
// is both a leaf and a directory is extra against the built-in tree.
void check_conflicts(const std::vector<Edge>& edges, const Leaves& leaves) {
  for (std::size_t i = 1; i < edges.size(); ++i) {
    const Edge& a = edges[i - 1];  // sorted: the leaf edge (false) precedes the directory edge
    const Edge& b = edges[i];
    if (a.dir != b.dir || a.name != b.name) continue;
    std::string path(a.dir);
    if (!path.empty()) path += '/';
    path += a.name;
    if (leaves[a.leaf].from_extra) {
      throw ValidationError(extra_field(path), "a built-in directory is at this path");
    }
    throw ValidationError(extra_field(path), "a built-in value is at this path");
  }
}

RenderedInstance::NodeMap finish(Leaves& leaves, const InstanceRecord& record) {
  const std::vector<Edge> edges = collect_edges(leaves);
  check_conflicts(edges, leaves);

  RenderedInstance::NodeMap nodes;
  nodes.reserve(leaves.size() + leaves.size() / 2);
  for (std::size_t begin = 0; begin < edges.size();) {
    const std::string_view dir = edges[begin].dir;
    Node node;
    node.is_dir = true;
    std::size_t end = begin;
    for (; end < edges.size() && edges[end].dir == dir; ++end) {
      if (end != begin) node.body += '\n';
      node.body += edges[end].name;
      // AWS lists the version root's children without '/' (imds-reference §1.2).
      if (edges[end].child_is_dir && !dir.empty()) node.body += '/';
    }
    nodes.emplace(std::string(dir), std::move(node));
    begin = end;
  }
  // AWS quirk: `0=name` lines, no trailing '/'. cloud-init drops keys listed as `0/`.
  if (!record.public_keys.empty()) {
    std::string listing;
    std::size_t index = 0;
    for (const auto& [name, key] : record.public_keys) {
      if (index != 0) listing += '\n';
      listing += std::to_string(index++);
      listing += '=';
      listing += name;
    }
    nodes.find(kPublicKeys)->second.body = std::move(listing);
  }
  // Leaves last: the edges above view their path strings.
  for (auto& leaf : leaves) {
    nodes.emplace(std::move(leaf.path),
                  Node{std::move(leaf.body), false, leaf.content_type, leaf.signed_leaf});
  }
  return nodes;
}

}  // namespace

std::shared_ptr<const RenderedInstance> render(const InstanceRecord& record) {
  if (!record.extra.is_null() && !record.extra.is_object()) {
    throw ValidationError("extra", "must be an object");
  }
  const defaults::Effective values = defaults::resolve(record);

  Leaves leaves;
  leaves.reserve(96);
  add_meta_data(record, values, leaves);
  add_dynamic(record, values, leaves);
  if (record.user_data) {
    leaves.push_back(Leaf{"user-data", *record.user_data, ContentType::kOctetStream});
  }
  if (record.extra.is_object() && !record.extra.empty()) {
    Leaves added = ExtraOverlay(leaves).apply(record.extra);
    std::move(added.begin(), added.end(), std::back_inserter(leaves));
  }
  return std::make_shared<const RenderedInstance>(record.instance_id, record.metadata_options,
                                                  finish(leaves, record),
                                                  LinkBinding{record.mac, record.interface},
                                                  unix_time(record.updated_at.empty()
                                                                ? record.created_at
                                                                : record.updated_at));
}

}  // namespace cloudmeta
