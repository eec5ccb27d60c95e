// <cloudmeta:instance> (docs/hypervisor.md, "The metadata element") -> record JSON fields. Each
// child element in cloudmeta's namespace is one field; an unknown one, a repeated one or one with
// the wrong shape is refused (a typo must not be silently dropped, as record_from_json refuses
// unknown JSON members). Values are checked by the record rules later, in read_domain_xml.
// Pure and thread-safe. Private to server/hypervisor/.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

namespace cloudmeta::hypervisor {

struct DeclaredFields {
  nlohmann::json fields = nlohmann::json::object();
  bool overwrite = false;
  std::string user_data_file;
};

// Throws DomainXmlError.
DeclaredFields read_cloudmeta_element(const pugi::xml_node& element);

// The namespace URI an element's prefix stands for, from the xmlns declarations on it and its
// ancestors ("" when undeclared). pugixml keeps prefixes as part of the name and resolves none.
std::string namespace_of(const pugi::xml_node& element);

// The local part of an element's name ("cloudmeta:tag" -> "tag").
std::string local_name(const pugi::xml_node& element);

}  // namespace cloudmeta::hypervisor
