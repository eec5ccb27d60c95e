// A libvirt domain XML document -> the hook's mapping (server/hypervisor/domain_registration.cpp):
// read_domain_xml with and without a bridge, then the record a new instance would get. A refusal
// is a DomainXmlError (the hook's clear error, exit non-zero); anything else escaping is a crash
// here, as it would be a crash of the hook under libvirtd. A domain that is accepted must make a
// record the record rules accept (its ip stood in when the XML gives none).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cloudmeta/record_json.hpp"
#include "hypervisor/domain_registration.hpp"

namespace {

void map(std::string_view xml, std::string_view bridge) {
  using cloudmeta::hypervisor::DomainXmlError;
  cloudmeta::hypervisor::DomainRegistration domain;
  try {
    domain = cloudmeta::hypervisor::read_domain_xml(xml, bridge);
  } catch (const DomainXmlError&) {
    return;
  }
  if (!domain.opted_in) return;
  const std::string file_bytes("#cloud-config\n");
  nlohmann::json doc = cloudmeta::hypervisor::record_document(
      domain, domain.user_data_file.empty() ? nullptr : &file_bytes);
  if (!doc.contains("ip")) doc["ip"] = "192.0.2.1";
  try {
    (void)cloudmeta::record_from_json(doc);
  } catch (const cloudmeta::ValidationError&) {
    std::abort();  // read_domain_xml promised it checked every field
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  map(xml, "");
  map(xml, "virbr-md");
  return 0;
}
