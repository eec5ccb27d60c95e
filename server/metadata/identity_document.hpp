// The instance identity document (dynamic/instance-identity/document): the JSON AWS serves and
// signs, built from the record and its resolved defaults. Signatures (pkcs7, signature,
// rsa2048) cover these exact bytes, so the field set, order and whitespace are fixed here.
// Private to server/metadata/. Pure and thread-safe.
#pragma once

#include <string>

#include "cloudmeta/instance_record.hpp"
#include "metadata/metadata_defaults.hpp"

namespace cloudmeta {

// AWS's field order (imds-reference §1.5); absent values are JSON null, never omitted.
std::string identity_document(const InstanceRecord& record, const defaults::Effective& values);

}  // namespace cloudmeta
