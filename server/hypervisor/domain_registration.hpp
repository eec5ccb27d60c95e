// What a libvirt domain's XML says about its instance record (docs/hypervisor.md, "Registering
// VMs"): the id from the domain UUID, the host name from its name, the MAC and bridge port of
// its interface on the metadata bridge, an instance type from its size, and whatever its
// <metadata> element in cloudmeta's namespace declares. Pure and thread-safe: reading files and
// talking to the server are the caller's (libvirt_hook.cpp). Private to server/hypervisor/.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "hypervisor/domain_xml_error.hpp"

namespace cloudmeta::hypervisor {

struct DomainRegistration {
  std::string name;         // libvirt's <name>
  std::string instance_id;  // "i-" + the first 17 hex digits of <uuid>
  // The domain's <metadata> holds a cloudmeta:instance element: only such domains are registered.
  bool opted_in = false;
  // overwrite="true" on the element: the XML is the whole record (PUT), edits made through the
  // API or the page are replaced; otherwise an existing record keeps every field the XML does not
  // declare.
  bool overwrite = false;
  nlohmann::json derived = nlohmann::json::object();   // hostname, instance_type
  nlohmann::json binding = nlohmann::json::object();   // mac, interface (once libvirt named it)
  nlohmann::json declared = nlohmann::json::object();  // the element's fields, record JSON names
  // <cloudmeta:user-data file="NAME"/>: a file name under LIBVIRT_HOOK_USER_DATA_DIR, read by the
  // caller; "" when none.
  std::string user_data_file;
};

// Parses `xml` (a whole domain document, as libvirt writes it to a hook's standard input) and
// checks every field it yields with the record rules (record_json.hpp). `bridge`: the interface
// whose <source bridge> is this is the VM's; "" takes the first interface. Throws DomainXmlError.
DomainRegistration read_domain_xml(std::string_view xml, std::string_view bridge);

// What an existing record is patched with (a merge-patch body): binding, then declared fields,
// and `user_data` (the file's bytes) when given. The derived fields (hostname, instance_type)
// are left to the record, which may have been edited through the API or the page.
nlohmann::json update_document(const DomainRegistration& domain,
                               const std::string* user_data_from_file);

// The record a new instance gets (a PUT body): derived, then binding, then declared fields (each
// later one wins), the id, and `user_data` (the file's bytes) when given. Not validated here: the
// server does, and read_domain_xml already checked every part.
nlohmann::json record_document(const DomainRegistration& domain,
                               const std::string* user_data_from_file);

}  // namespace cloudmeta::hypervisor
