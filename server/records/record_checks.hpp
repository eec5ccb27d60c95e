// The format rules of single admin-API fields (record_json.cpp applies them field by field).
// Each check takes the text given for `field` and returns it normalised (canonical address,
// lowercase MAC, UTC time...) or throws ValidationError(field, ...). Pure and thread-safe.
// Private to server/records/.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace cloudmeta::record_checks {

using Check = std::string (*)(const std::string& value, const std::string& field);
using KeyCheck = void (*)(const std::string& key, const std::string& field);

// Code points in `s`, or nullopt when it is not valid UTF-8.
std::optional<std::size_t> utf8_length(std::string_view s);

std::string single_line(const std::string& v, const std::string& field);
std::string check_nonempty_line(const std::string& v, const std::string& field);
std::string one_of(const std::string& v, const std::string& field,
                   std::initializer_list<std::string_view> allowed);
// prefix "ami" accepts ami- + 8 or 17 lowercase hex digits.
std::string aws_id(const std::string& v, const std::string& field, std::string_view prefix);
std::string check_instance_id(const std::string& v, const std::string& field);

std::string check_ipv4(const std::string& v, const std::string& field);
std::string check_ipv6(const std::string& v, const std::string& field);
std::string check_cidr_v4(const std::string& v, const std::string& field);
std::string check_hostname(const std::string& v, const std::string& field);
std::string check_mac(const std::string& v, const std::string& field);
// A network interface name as the kernel takes it (dev_valid_name): 1-15 bytes, not "." or
// "..", no '/', ':' or white space. The bridge port a VM's frames arrive on (CALLER_BINDING=port).
std::string check_interface_name(const std::string& v, const std::string& field);

std::string check_region(const std::string& v, const std::string& field);
std::string check_availability_zone(const std::string& v, const std::string& field);
std::string check_availability_zone_id(const std::string& v, const std::string& field);
std::string check_account_id(const std::string& v, const std::string& field);
std::string check_instance_type(const std::string& v, const std::string& field);

void check_path_segment(const std::string& key, const std::string& field);
void check_tag_key(const std::string& key, const std::string& field);
std::string check_tag_value(const std::string& v, const std::string& field);
void check_key_name(const std::string& key, const std::string& field);
std::string check_public_key(const std::string& v, const std::string& field);
std::string check_block_device(const std::string& v, const std::string& field);

std::string check_role(const std::string& v, const std::string& field);
std::string check_access_key_id(const std::string& v, const std::string& field);
std::string check_credential(const std::string& v, const std::string& field);
std::string check_rfc3339(const std::string& v, const std::string& field);

// Standard alphabet with padding; characters in `ignore` (may be null) are skipped.
std::optional<std::string> base64_decode(std::string_view text, const char* ignore);
std::string base64_encode(std::string_view bytes);

}  // namespace cloudmeta::record_checks
