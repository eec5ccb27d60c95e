// The error of the domain XML -> record mapping, and the namespace it looks for. Private to
// server/hypervisor/.
#pragma once

#include <stdexcept>
#include <string_view>

namespace cloudmeta::hypervisor {

// The namespace of <cloudmeta:instance> inside a domain's <metadata> (libvirt keeps each
// application's metadata in an element of its own namespace).
inline constexpr std::string_view kXmlNamespace = "https://cloudmeta.dev/xmlns/libvirt/1";

// The XML is not a domain, or says something the record rules refuse; the message names the
// element or field and is fit for libvirt's error line (one line, no secret values).
class DomainXmlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cloudmeta::hypervisor
