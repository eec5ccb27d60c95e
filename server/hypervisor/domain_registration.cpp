#include "hypervisor/domain_registration.hpp"

#include <charconv>
#include <cstdint>
#include <optional>

#include <pugixml.hpp>
#include <sodium.h>

#include "cloudmeta/record_json.hpp"
#include "hypervisor/cloudmeta_element.hpp"
#include "hypervisor/instance_types.hpp"

namespace cloudmeta::hypervisor {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& message) { throw DomainXmlError(message); }

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// libvirt writes <uuid> with dashes (RFC 4122 text); the id keeps the first 17 hex digits, the
// length of today's EC2 ids, so it is the same on every boot of the domain.
std::string instance_id_of(std::string_view uuid) {
  std::string hex;
  for (const char raw : uuid) {
    const char c = (raw >= 'A' && raw <= 'F') ? static_cast<char>(raw - 'A' + 'a') : raw;
    if (c == '-') continue;
    if (!is_hex(c)) fail("<uuid>: not a UUID");
    hex += c;
  }
  if (hex.size() != 32) fail("<uuid>: not a UUID (32 hex digits)");
  return "i-" + hex.substr(0, 17);
}

std::optional<std::uint64_t> parse_count(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.remove_suffix(1);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// <memory unit='...'> in MiB (rounded up), with libvirt's units (formatdomain: "Memory
// Allocation"): b/bytes, KB/MB/GB/TB (powers of 1000), k/KiB, M/MiB, G/GiB, T/TiB (of 1024);
// KiB when absent.
std::uint64_t memory_mib(const pugi::xml_node& memory) {
  const std::string_view unit = memory.attribute("unit") ? memory.attribute("unit").value() : "KiB";
  struct Unit {
    std::string_view name;
    std::uint64_t bytes;
  };
  constexpr std::uint64_t kKi = 1024, kK = 1000;
  const Unit units[] = {{"b", 1},          {"bytes", 1},           {"KB", kK},
                        {"k", kKi},        {"KiB", kKi},           {"MB", kK * kK},
                        {"M", kKi * kKi},  {"MiB", kKi * kKi},     {"GB", kK * kK * kK},
                        {"G", kKi * kKi * kKi}, {"GiB", kKi * kKi * kKi},
                        {"TB", kK * kK * kK * kK}, {"T", kKi * kKi * kKi * kKi},
                        {"TiB", kKi * kKi * kKi * kKi}};
  const Unit* found = nullptr;
  for (const Unit& u : units) {
    if (u.name == unit) found = &u;
  }
  if (!found) fail("<memory>: unknown unit '" + std::string(unit) + "'");
  const auto count = parse_count(memory.text().get());
  if (!count) fail("<memory>: not a whole number");
  constexpr std::uint64_t kMib = kKi * kKi;
  // In MiB without overflowing: whole MiB of the unit, plus the rest rounded up.
  const std::uint64_t per_unit_mib = found->bytes / kMib;
  if (per_unit_mib > 0) {
    if (*count > UINT64_MAX / per_unit_mib) fail("<memory>: too large");
    return *count * per_unit_mib;
  }
  const std::uint64_t per_mib = kMib / found->bytes;  // units in one MiB (1, 1 KiB, ...)
  if (kMib % found->bytes == 0) return *count / per_mib + (*count % per_mib != 0);
  // Decimal units below a MiB (KB, MB): through bytes, bounded first.
  if (*count > UINT64_MAX / found->bytes) fail("<memory>: too large");
  const std::uint64_t bytes = *count * found->bytes;
  return bytes / kMib + (bytes % kMib != 0);
}

// <vcpu current='N'>MAX</vcpu>: the vCPUs the domain boots with.
std::optional<unsigned> vcpus_of(const pugi::xml_node& vcpu) {
  if (!vcpu) return std::nullopt;
  const auto count = vcpu.attribute("current") ? parse_count(vcpu.attribute("current").value())
                                               : parse_count(vcpu.text().get());
  if (!count || *count == 0 || *count > 100000) fail("<vcpu>: not a number of vCPUs");
  return static_cast<unsigned>(*count);
}

void derive_instance_type(const pugi::xml_node& domain, json& derived) {
  const auto vcpus = vcpus_of(domain.child("vcpu"));
  const pugi::xml_node memory = domain.child("memory");
  if (!vcpus || !memory) return;
  const std::string_view type = smallest_instance_type(*vcpus, memory_mib(memory));
  if (!type.empty()) derived["instance_type"] = std::string(type);
}

// The VM's interface: the first on `bridge` (a <source bridge=...>, which libvirt also writes
// for an interface of a network on a bridge), or the first of all when `bridge` is "".
void derive_binding(const pugi::xml_node& domain, std::string_view bridge, json& binding) {
  for (const pugi::xml_node& nic : domain.child("devices").children("interface")) {
    if (!bridge.empty() && bridge != nic.child("source").attribute("bridge").value()) continue;
    if (const char* mac = nic.child("mac").attribute("address").value(); *mac) {
      binding["mac"] = mac;
    }
    // libvirt names the tap (vnetN) when it starts the domain: in the XML of `start`, not
    // always in that of `prepare`.
    if (const char* dev = nic.child("target").attribute("dev").value(); *dev) {
      binding["interface"] = dev;
    }
    return;
  }
  if (!bridge.empty()) {
    fail("no <interface> of the domain is on bridge " + std::string(bridge) +
         " (LIBVIRT_HOOK_BRIDGE)");
  }
}

pugi::xml_node cloudmeta_element(const pugi::xml_node& domain) {
  pugi::xml_node found;
  for (const pugi::xml_node& child : domain.child("metadata").children()) {
    if (child.type() != pugi::node_element || local_name(child) != "instance" ||
        namespace_of(child) != kXmlNamespace) {
      continue;
    }
    if (found) fail("<metadata>: two cloudmeta:instance elements");
    found = child;
  }
  return found;
}

// Any valid address stands in for an ip the XML does not give (an existing record keeps its
// own), so that every other field is checked before anything is sent.
constexpr const char* kStandInIp = "192.0.2.1";

void check_with_record_rules(const DomainRegistration& d) {
  json probe = record_document(d, nullptr);
  if (!probe.contains("ip")) probe["ip"] = kStandInIp;
  try {
    (void)record_from_json(probe);
  } catch (const ValidationError& e) {
    fail(std::string(e.what()) + " (in the domain XML)");
  } catch (const json::exception& e) {
    fail(std::string("a value of the wrong type in the domain XML: ") + e.what());
  }
}

void check_host_name(const std::string& name, const std::string& instance_id) {
  try {
    (void)record_from_json({{"instance_id", instance_id}, {"ip", kStandInIp}, {"hostname", name}});
  } catch (const ValidationError&) {
    fail("the domain name '" + name.substr(0, 64) +
         "' is not a host name: give one in <cloudmeta:hostname>");
  }
}

}  // namespace

DomainRegistration read_domain_xml(std::string_view xml, std::string_view bridge) {
  pugi::xml_document doc;
  // parse_default reads no DTD and expands no entity beyond XML's five: nothing outside the
  // buffer is ever fetched.
  const pugi::xml_parse_result parsed =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!parsed) {
    fail(std::string("not well-formed XML: ") + parsed.description() + " at byte " +
         std::to_string(parsed.offset));
  }
  const pugi::xml_node domain = doc.document_element();
  if (std::string_view(domain.name()) != "domain") fail("not a libvirt domain (no <domain>)");

  DomainRegistration d;
  d.name = domain.child("name").text().get();
  if (d.name.empty()) fail("<name>: missing");
  const pugi::xml_node uuid = domain.child("uuid");
  if (!uuid) fail("<uuid>: missing");
  d.instance_id = instance_id_of(uuid.text().get());

  const pugi::xml_node element = cloudmeta_element(domain);
  d.opted_in = static_cast<bool>(element);
  if (!d.opted_in) return d;
  DeclaredFields declared = read_cloudmeta_element(element);
  d.declared = std::move(declared.fields);
  d.overwrite = declared.overwrite;
  d.user_data_file = std::move(declared.user_data_file);

  if (!d.declared.contains("hostname")) {
    check_host_name(d.name, d.instance_id);
    d.derived["hostname"] = d.name;
  }
  derive_instance_type(domain, d.derived);
  derive_binding(domain, bridge, d.binding);
  check_with_record_rules(d);
  return d;
}

json record_document(const DomainRegistration& d, const std::string* user_data_from_file) {
  json doc = d.derived;
  doc.update(update_document(d, user_data_from_file));
  doc["instance_id"] = d.instance_id;
  return doc;
}

json update_document(const DomainRegistration& d, const std::string* user_data_from_file) {
  json doc = d.binding;
  doc.update(d.declared);
  if (user_data_from_file) {
    // Bytes, perhaps not UTF-8: sent as base64, which record_from_json decodes.
    std::string encoded(sodium_base64_encoded_len(user_data_from_file->size(),
                                                  sodium_base64_VARIANT_ORIGINAL),
                        '\0');
    sodium_bin2base64(encoded.data(), encoded.size(),
                      reinterpret_cast<const unsigned char*>(user_data_from_file->data()),
                      user_data_from_file->size(), sodium_base64_VARIANT_ORIGINAL);
    encoded.resize(encoded.size() - 1);  // the terminating NUL
    doc["user_data_base64"] = std::move(encoded);
  }
  return doc;
}

}  // namespace cloudmeta::hypervisor
