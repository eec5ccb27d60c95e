#include "metadata/identity_document.hpp"

#include "metadata/aws_json.hpp"

namespace cloudmeta {
namespace {

nlohmann::ordered_json string_or_null(const std::string& value) {
  if (value.empty()) return nullptr;
  return value;
}

}  // namespace

std::string identity_document(const InstanceRecord& record, const defaults::Effective& values) {
  // The order matches documents served by current EC2 instances; AWS's older doc sample lists
  // the same fields shuffled. The version is fixed: AWS has served "2017-09-30" ever since.
  nlohmann::ordered_json doc;
  doc["accountId"] = values.account_id;
  doc["architecture"] = values.architecture;
  doc["availabilityZone"] = values.availability_zone;
  doc["billingProducts"] = nullptr;
  doc["devpayProductCodes"] = nullptr;
  doc["marketplaceProductCodes"] = nullptr;
  doc["imageId"] = values.ami_id;
  doc["instanceId"] = record.instance_id;
  doc["instanceType"] = values.instance_type;
  doc["kernelId"] = string_or_null(record.kernel_id);
  if (auto pending = defaults::aws_timestamp(record.created_at)) {
    doc["pendingTime"] = std::move(*pending);
  } else {
    doc["pendingTime"] = nullptr;
  }
  // AWS: "for IPv6-only instances, privateIp holds the IPv6 address".
  if (!values.local_ipv4.empty()) {
    doc["privateIp"] = values.local_ipv4;
  } else if (!values.ipv6s.empty()) {
    doc["privateIp"] = values.ipv6s.front();
  } else {
    doc["privateIp"] = nullptr;
  }
  doc["ramdiskId"] = string_or_null(record.ramdisk_id);
  doc["region"] = values.region;
  doc["version"] = "2017-09-30";
  return aws_pretty_json(doc);
}

}  // namespace cloudmeta
