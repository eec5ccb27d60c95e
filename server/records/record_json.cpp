// InstanceRecord <-> JSON. Every string field is checked where it is parsed (so the error names the
// exact field); rules spanning fields live in validate_record(). Output conventions, relied on by
// the admin page and by "GET body can be PUT back":
//  - every field is always present; an unset optional string is "", an empty list [] or map {};
//  - user_data_base64 is the user-data (null when there is none); user_data repeats it as text
//    when it is valid UTF-8, else null. On input either may be given; both only when they agree;
//  - created_at / updated_at are output-only and ignored on input.
#include "cloudmeta/record_json.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/json_depth.hpp"
#include "records/record_checks.hpp"

namespace cloudmeta {
namespace {

using nlohmann::json;
using namespace record_checks;

constexpr int kMaxExtraDepth = 8;

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  throw ValidationError(field, message);
}

struct StringField {
  std::string_view name;
  std::string InstanceRecord::*member;
  Check check;
};

const StringField kStringFields[] = {
    {"instance_id", &InstanceRecord::instance_id, check_instance_id},
    {"ip", &InstanceRecord::ip, canonical_ip},
    {"hostname", &InstanceRecord::hostname, check_hostname},
    {"local_hostname", &InstanceRecord::local_hostname, check_hostname},
    {"local_ipv4", &InstanceRecord::local_ipv4, check_ipv4},
    {"public_hostname", &InstanceRecord::public_hostname, check_hostname},
    {"public_ipv4", &InstanceRecord::public_ipv4, check_ipv4},
    {"mac", &InstanceRecord::mac, check_mac},
    {"interface", &InstanceRecord::interface, check_interface_name},
    {"ami_id", &InstanceRecord::ami_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "ami"); }},
    {"ami_manifest_path", &InstanceRecord::ami_manifest_path, single_line},
    {"reservation_id", &InstanceRecord::reservation_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "r"); }},
    {"instance_type", &InstanceRecord::instance_type, check_instance_type},
    {"instance_life_cycle", &InstanceRecord::instance_life_cycle,
     [](const std::string& v, const std::string& f) {
       return one_of(v, f, {"on-demand", "spot", "scheduled"});
     }},
    {"instance_action", &InstanceRecord::instance_action,
     [](const std::string& v, const std::string& f) {
       return one_of(v, f, {"none", "shutdown", "bundle-pending"});
     }},
    {"region", &InstanceRecord::region, check_region},
    {"availability_zone", &InstanceRecord::availability_zone, check_availability_zone},
    {"availability_zone_id", &InstanceRecord::availability_zone_id, check_availability_zone_id},
    {"account_id", &InstanceRecord::account_id, check_account_id},
    {"architecture", &InstanceRecord::architecture,
     [](const std::string& v, const std::string& f) {
       return one_of(v, f, {"i386", "x86_64", "arm64"});
     }},
    {"kernel_id", &InstanceRecord::kernel_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "aki"); }},
    {"ramdisk_id", &InstanceRecord::ramdisk_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "ari"); }},
    {"interface_id", &InstanceRecord::interface_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "eni"); }},
    {"subnet_id", &InstanceRecord::subnet_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "subnet"); }},
    {"subnet_ipv4_cidr_block", &InstanceRecord::subnet_ipv4_cidr_block, check_cidr_v4},
    {"vpc_id", &InstanceRecord::vpc_id,
     [](const std::string& v, const std::string& f) { return aws_id(v, f, "vpc"); }},
    {"vpc_ipv4_cidr_block", &InstanceRecord::vpc_ipv4_cidr_block, check_cidr_v4},
};

// null stands for "not set" everywhere, so a client may clear a field either way.
std::string string_or_empty(const json& v, const std::string& field) {
  if (v.is_null()) return {};
  if (!v.is_string()) fail(field, "must be a string");
  return v.get<std::string>();
}

std::vector<std::string> string_list(const json& v, const std::string& field, Check check) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) fail(field, "must be an array of strings");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string item_field = field + "[" + std::to_string(i) + "]";
    const std::string s = string_or_empty(v[i], item_field);
    if (s.empty()) fail(item_field, "must not be empty");
    out.push_back(check(s, item_field));
  }
  return out;
}

std::map<std::string, std::string> string_map(const json& v, const std::string& field,
                                              KeyCheck check_key, Check check_value) {
  std::map<std::string, std::string> out;
  if (v.is_null()) return out;
  if (!v.is_object()) fail(field, "must be an object of strings");
  for (const auto& [key, value] : v.items()) {
    const std::string entry_field = field + "." + key;
    check_key(key, entry_field);
    out[key] = check_value(string_or_empty(value, entry_field), entry_field);
  }
  return out;
}

void require_object(const json& v, const std::string& field) {
  if (!v.is_object()) fail(field, "must be an object");
}

// Whether arrays and objects nest deeper than `limit` levels in value, found without recursion.
bool nested_deeper_than(const json& value, std::size_t limit) {
  std::vector<std::pair<const json*, std::size_t>> pending{{&value, 1}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    if (depth > limit) return true;
    for (const json& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return false;
}

// Where parsing puts the members this version does not know: nowhere (a client's request, where
// an unknown name is a typo to refuse) or aside (a stored document a newer version wrote).
class UnknownMembers {
 public:
  explicit UnknownMembers(json* kept) : kept_(kept) {}
  // `section` is "" for the top level, else the object's name ("iam").
  void take(const std::string& section, const std::string& key, const json& value) {
    const std::string field = section.empty() ? key : section + "." + key;
    if (!kept_) fail(field, "unknown field");
    // A kept member is copied and written back, both recursively: held to the limit of every
    // JSON input (the parser itself does not recurse, and the known fields bound themselves).
    if (nested_deeper_than(value, kMaxJsonDepth)) {
      fail(field, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    if (section.empty()) {
      (*kept_)[key] = value;
    } else {
      (*kept_)[section][key] = value;
    }
  }

 private:
  json* kept_;
};

IamCredentials parse_iam(const json& v, UnknownMembers& unknown) {
  IamCredentials iam;
  if (v.is_null()) return iam;
  require_object(v, "iam");
  const struct {
    std::string_view name;
    std::string IamCredentials::*member;
    Check check;
  } fields[] = {
      {"role", &IamCredentials::role, check_role},
      {"access_key_id", &IamCredentials::access_key_id, check_access_key_id},
      {"secret_access_key", &IamCredentials::secret_access_key, check_credential},
      {"token", &IamCredentials::token, check_credential},
      {"expiration", &IamCredentials::expiration, check_rfc3339},
  };
  for (const auto& [key, value] : v.items()) {
    const std::string field = "iam." + key;
    // `key` by an init-capture: clang before 16 cannot capture a structured binding itself.
    const auto* f = std::find_if(std::begin(fields), std::end(fields),
                                 [&name = key](const auto& f) { return f.name == name; });
    if (f == std::end(fields)) {
      unknown.take("iam", key, value);
      continue;
    }
    const std::string s = string_or_empty(value, field);
    iam.*(f->member) = s.empty() ? s : f->check(s, field);
  }
  return iam;
}

std::string enum_string(const json& v, const std::string& field,
                        std::initializer_list<std::string_view> allowed) {
  if (!v.is_string()) fail(field, "must be a string");
  return one_of(v.get<std::string>(), field, allowed);
}

MetadataOptions parse_metadata_options(const json& v, UnknownMembers& unknown) {
  MetadataOptions o;
  if (v.is_null()) return o;
  require_object(v, "metadata_options");
  for (const auto& [key, value] : v.items()) {
    const std::string field = "metadata_options." + key;
    if (key == "http_tokens") {
      o.http_tokens = enum_string(value, field, {"optional", "required"}) == "required"
                          ? HttpTokens::kRequired
                          : HttpTokens::kOptional;
    } else if (key == "http_endpoint") {
      o.http_endpoint_enabled = enum_string(value, field, {"enabled", "disabled"}) == "enabled";
    } else if (key == "instance_metadata_tags") {
      o.instance_metadata_tags = enum_string(value, field, {"enabled", "disabled"}) == "enabled";
    } else if (key == "http_put_response_hop_limit") {
      // AWS ModifyInstanceMetadataOptions: HttpPutResponseHopLimit 1..64.
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
          value.get<std::int64_t>() > 64) {
        fail(field, "must be an integer from 1 to 64");
      }
      o.http_put_response_hop_limit = value.get<int>();
    } else {
      unknown.take("metadata_options", key, value);
    }
  }
  return o;
}

// extra: a tree published under meta-data/; inner nodes are objects, leaves strings.
void check_extra(const json& v, const std::string& field, int depth) {
  if (depth > kMaxExtraDepth) fail(field, "nested deeper than " + std::to_string(kMaxExtraDepth));
  for (const auto& [key, value] : v.items()) {
    const std::string child = field + "." + key;
    check_path_segment(key, child);
    if (value.is_object()) {
      check_extra(value, child, depth + 1);
    } else if (value.is_string()) {
      if (!utf8_length(value.get_ref<const std::string&>())) fail(child, "not valid UTF-8");
    } else {
      fail(child, "must be a string or an object");
    }
  }
}

std::optional<std::string> parse_user_data(const json& text, const json& b64) {
  std::optional<std::string> from_text, from_b64;
  if (!text.is_null()) from_text = string_or_empty(text, "user_data");
  if (!b64.is_null()) {
    const std::string encoded = string_or_empty(b64, "user_data_base64");
    // Line breaks are tolerated so that `base64` output can be pasted as is.
    from_b64 = base64_decode(encoded, " \t\r\n");
    if (!from_b64) fail("user_data_base64", "not valid base64");
  }
  const char* field = from_b64 ? "user_data_base64" : "user_data";
  const auto& data = from_b64 ? from_b64 : from_text;
  if (data && data->size() > kMaxUserDataBytes) {
    fail(field, "larger than " + std::to_string(kMaxUserDataBytes) + " bytes (the AWS limit)");
  }
  if (from_text && from_b64 && *from_text != *from_b64) {
    fail("user_data_base64", "give user_data or user_data_base64, not both");
  }
  return from_b64 ? from_b64 : from_text;
}

}  // namespace

std::string canonical_ip(const std::string& text, const std::string& field) {
  auto ip = IpKey::parse(text);
  if (!ip) fail(field, "must be an IPv4 or IPv6 address");
  return ip->to_string();
}

namespace {

InstanceRecord parse_record(const json& body, UnknownMembers& unknown) {
  if (!body.is_object()) fail("", "the record must be a JSON object");
  InstanceRecord r;
  const json null_value;
  const json* user_data = &null_value;
  const json* user_data_base64 = &null_value;
  for (const auto& [key, value] : body.items()) {
    const auto* sf = std::find_if(std::begin(kStringFields), std::end(kStringFields),
                                  [&name = key](const StringField& f) { return f.name == name; });
    if (sf != std::end(kStringFields)) {
      const std::string s = string_or_empty(value, key);
      r.*(sf->member) = s.empty() ? s : sf->check(s, key);
    } else if (key == "ip_learned") {
      if (!value.is_null() && !value.is_boolean()) fail(key, "must be true or false");
      r.ip_learned = value.is_boolean() && value.get<bool>();
    } else if (key == "state") {
      r.state = enum_string(value, key, {"running", "stopped"}) == "stopped"
                    ? InstanceState::kStopped
                    : InstanceState::kRunning;
    } else if (key == "ami_launch_index") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
          value.get<std::int64_t>() > std::numeric_limits<int>::max()) {
        fail(key, "must be an integer >= 0");
      }
      r.ami_launch_index = value.get<int>();
    } else if (key == "secondary_ipv4s") {
      r.secondary_ipv4s = string_list(value, key, check_ipv4);
    } else if (key == "ipv6s") {
      r.ipv6s = string_list(value, key, check_ipv6);
    } else if (key == "security_groups") {
      r.security_groups = string_list(value, key, single_line);
    } else if (key == "security_group_ids") {
      r.security_group_ids = string_list(
          value, key,
          [](const std::string& v, const std::string& f) { return aws_id(v, f, "sg"); });
    } else if (key == "block_device_mapping") {
      r.block_device_mapping = string_map(value, key, check_path_segment, check_block_device);
    } else if (key == "public_keys") {
      r.public_keys = string_map(value, key, check_key_name, check_public_key);
    } else if (key == "tags") {
      r.tags = string_map(value, key, check_tag_key, check_tag_value);
    } else if (key == "user_data") {
      user_data = &value;
    } else if (key == "user_data_base64") {
      user_data_base64 = &value;
    } else if (key == "iam") {
      r.iam = parse_iam(value, unknown);
    } else if (key == "metadata_options") {
      r.metadata_options = parse_metadata_options(value, unknown);
    } else if (key == "extra") {
      if (!value.is_null()) {
        require_object(value, key);
        check_extra(value, key, 1);
        r.extra = value;
      }
    } else if (key != "created_at" && key != "updated_at") {
      unknown.take("", key, value);
    }
  }
  r.user_data = parse_user_data(*user_data, *user_data_base64);
  validate_record(r);
  return r;
}

}  // namespace

InstanceRecord record_from_json(const json& body) {
  if (body.is_object() && body.contains("invalid")) {
    // The GET of a row that could not be decoded, sent back as it is: it holds no record.
    fail("invalid", "only the server sets it, on a stored row it cannot decode; send a whole "
                    "record to replace that row");
  }
  UnknownMembers refused(nullptr);
  return parse_record(body, refused);
}

InstanceRecord record_from_stored_json(const json& doc) {
  json kept = json::object();
  UnknownMembers unknown(&kept);
  InstanceRecord r = parse_record(doc, unknown);
  r.unknown_fields = std::move(kept);
  return r;
}

void validate_record(const InstanceRecord& r) {
  if (r.instance_id.empty()) fail("instance_id", "required");
  // A DHCP guest: no address yet, recognised by its MAC when it first calls.
  if (r.ip.empty() && r.mac.empty()) fail("ip", "required unless mac is set");
  if (r.ip_learned && (r.ip.empty() || r.mac.empty())) {
    fail("ip_learned", "needs ip and mac (an address learned for a MAC)");
  }
  if (!r.region.empty() && !r.availability_zone.empty() &&
      r.availability_zone.compare(0, r.availability_zone.size() - 1, r.region) != 0) {
    fail("availability_zone", "must be in region " + r.region);
  }
  if (r.user_data && r.user_data->size() > kMaxUserDataBytes) {
    fail("user_data",
         "larger than " + std::to_string(kMaxUserDataBytes) + " bytes (the AWS limit)");
  }
  const IamCredentials& iam = r.iam;
  const bool any_credential = !iam.access_key_id.empty() || !iam.secret_access_key.empty() ||
                              !iam.token.empty() || !iam.expiration.empty();
  if (iam.role.empty() && any_credential) fail("iam.role", "required when credentials are set");
  if (!iam.role.empty()) {
    // Every AWS SDK credential provider needs all four; a partial set fails in the guest.
    const std::pair<const char*, const std::string*> required[] = {
        {"iam.access_key_id", &iam.access_key_id},
        {"iam.secret_access_key", &iam.secret_access_key},
        {"iam.token", &iam.token},
        {"iam.expiration", &iam.expiration}};
    for (const auto& [name, value] : required) {
      if (value->empty()) fail(name, "required when iam.role is set");
    }
  }
}

json record_to_json(const InstanceRecord& r, bool include_secrets) {
  if (r.invalid) {
    // Only what the row's columns say: defaults in place of the fields that did not decode
    // would read as the record's values.
    return {{"instance_id", r.instance_id},
            {"ip", r.ip},
            {"invalid", r.invalid->reason},
            {"created_at", r.created_at},
            {"updated_at", r.updated_at}};
  }
  json out = json::object();
  for (const auto& f : kStringFields) out[std::string(f.name)] = r.*(f.member);
  out["ip_learned"] = r.ip_learned;
  out["state"] = r.state == InstanceState::kStopped ? "stopped" : "running";
  out["ami_launch_index"] = r.ami_launch_index;
  out["secondary_ipv4s"] = r.secondary_ipv4s;
  out["ipv6s"] = r.ipv6s;
  out["security_groups"] = r.security_groups;
  out["security_group_ids"] = r.security_group_ids;
  out["block_device_mapping"] = r.block_device_mapping;
  out["public_keys"] = r.public_keys;
  out["tags"] = r.tags;
  out["user_data"] = nullptr;
  out["user_data_base64"] = nullptr;
  if (r.user_data) {
    if (utf8_length(*r.user_data)) out["user_data"] = *r.user_data;
    out["user_data_base64"] = base64_encode(*r.user_data);
  }
  auto secret = [&](const std::string& s) {
    return include_secrets || s.empty() ? s : std::string("***");
  };
  out["iam"] = {{"role", r.iam.role},
                {"access_key_id", r.iam.access_key_id},
                {"secret_access_key", secret(r.iam.secret_access_key)},
                {"token", secret(r.iam.token)},
                {"expiration", r.iam.expiration}};
  const MetadataOptions& o = r.metadata_options;
  out["metadata_options"] = {
      {"http_tokens", o.http_tokens == HttpTokens::kRequired ? "required" : "optional"},
      {"http_endpoint", o.http_endpoint_enabled ? "enabled" : "disabled"},
      {"instance_metadata_tags", o.instance_metadata_tags ? "enabled" : "disabled"},
      {"http_put_response_hop_limit", o.http_put_response_hop_limit}};
  out["extra"] = r.extra.is_object() ? r.extra : json::object();
  out["created_at"] = r.created_at;
  out["updated_at"] = r.updated_at;
  return out;
}

}  // namespace cloudmeta
