// InstanceRecord: one VM as the admin API and the stores see it. Plain values, no behaviour:
// JSON conversion and validation live in record_json.hpp, rendering in metadata_tree.hpp.
// Optional fields left empty get AWS-like defaults at render time (docs/metadata.md lists each).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cloudmeta {

struct IamCredentials {
  std::string role;  // the instance profile's role name; empty = no role
  std::string access_key_id;
  std::string secret_access_key;
  std::string token;
  std::string expiration;  // RFC 3339, normalised to YYYY-MM-DDTHH:MM:SSZ
};

enum class HttpTokens { kOptional, kRequired };

// Whether the metadata surface serves the VM. A stopped instance (a libvirt guest its hook
// released) keeps its record, history and audit trail, and is answered exactly as an unknown
// caller until it runs again.
enum class InstanceState { kRunning, kStopped };

struct MetadataOptions {
  HttpTokens http_tokens = HttpTokens::kOptional;
  bool http_endpoint_enabled = true;
  bool instance_metadata_tags = false;
  int http_put_response_hop_limit = 1;  // 1..64, IP TTL / hop limit of the token PUT response
};

struct InstanceRecord {
  std::string instance_id;  // i- + 8 or 17 lowercase hex
  // The caller address that identifies this VM (v4 or v6, canonical). Empty for a DHCP guest
  // whose address is not known yet: it is recognised by `mac` and its address learned
  // (docs/hypervisor.md, "DHCP guests").
  std::string ip;
  // `ip` was learned by the server from the kernel's neighbour table, not set by an operator:
  // only a learned address moves when the guest calls from another one. Requires mac and ip.
  bool ip_learned = false;
  InstanceState state = InstanceState::kRunning;  // "running" | "stopped"

  std::string hostname;        // empty -> local_hostname or ip-a-b-c-d.<region>.compute.internal
  std::string local_hostname;  // empty -> hostname or the IP-based name
  std::string local_ipv4;      // empty -> ip (when ip is IPv4)
  std::string public_hostname;
  std::string public_ipv4;
  std::string mac;  // empty -> derived from instance_id (0e:xx:xx:xx:xx:xx)
  // The bridge port (libvirt's vnetN, a tap, a veth) the VM's frames arrive on; checked under
  // CALLER_BINDING=port, not served to the guest.
  std::string interface;

  std::string ami_id;
  std::string ami_manifest_path;
  int ami_launch_index = 0;
  std::string reservation_id;
  std::string instance_type;
  std::string instance_life_cycle;  // on-demand | spot | scheduled
  std::string instance_action;      // none | shutdown | bundle-pending
  std::string region;
  std::string availability_zone;
  std::string availability_zone_id;
  std::string account_id;
  std::string architecture;  // i386 | x86_64 | arm64
  std::string kernel_id;
  std::string ramdisk_id;

  // Primary network interface (device 0); each empty field gets a derived default.
  std::string interface_id;
  std::string subnet_id;
  std::string subnet_ipv4_cidr_block;
  std::string vpc_id;
  std::string vpc_ipv4_cidr_block;
  std::vector<std::string> secondary_ipv4s;  // local-ipv4s lines after the primary
  std::vector<std::string> ipv6s;
  std::vector<std::string> security_groups;
  std::vector<std::string> security_group_ids;
  std::map<std::string, std::string> block_device_mapping;  // name -> device

  std::map<std::string, std::string> public_keys;  // key name -> "ssh-... key comment"
  std::map<std::string, std::string> tags;
  std::optional<std::string> user_data;  // raw bytes, <= 16 KiB; nullopt -> 404
  IamCredentials iam;
  MetadataOptions metadata_options;
  nlohmann::json extra = nlohmann::json::object();  // free-form tree of strings under meta-data/

  // Maintained by the store, not by clients.
  std::string created_at;  // RFC 3339 UTC, the identity document's pendingTime
  std::string updated_at;  // RFC 3339 UTC, iam LastUpdated

  // Members of the stored document that this version does not know, in the document's shape
  // ({"new_field": ..., "iam": {"new_iam_field": ...}}): a newer cloudmeta sharing the database
  // wrote them. A Store writes them back with the record, and Fleet::replace carries them over
  // from the stored row, so a host that is not upgraded yet does not erase them. Never part of
  // record_to_json (the admin API, audit, export): this version cannot vouch for them.
  nlohmann::json unknown_fields = nlohmann::json::object();

  // Set by a Store instead of failing the whole read, on a row this version cannot decode
  // (hand-edited, or a newer version's value that fails this version's checks). Only
  // instance_id and ip (the row's columns) and the timestamps are filled in then. A Store
  // refuses to write such a record.
  struct Undecodable {
    std::string reason;    // names the field and the rule, never a value
    std::string document;  // the stored document as it is, for an operator to repair
  };
  std::optional<Undecodable> invalid;
};

}  // namespace cloudmeta
