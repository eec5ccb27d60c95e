// JSON leaves as EC2's IMDS prints them (IAM info and credentials, the identity document).
// Private to server/metadata/. Pure and thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace cloudmeta {

// AWS prints JSON leaves Jackson-style: 2-space indent and `"key" : value`. Keeps key order.
std::string aws_pretty_json(const nlohmann::ordered_json& value);

}  // namespace cloudmeta
