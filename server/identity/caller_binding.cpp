#include "cloudmeta/caller_binding.hpp"

namespace cloudmeta {

std::string_view binding_refusal_name(BindingRefusal r) {
  switch (r) {
    case BindingRefusal::kNone: return "none";
    case BindingRefusal::kNotOnLink: return "not_on_link";
    case BindingRefusal::kRecordHasNoMac: return "record_has_no_mac";
    case BindingRefusal::kMacMismatch: return "mac_mismatch";
    case BindingRefusal::kRecordHasNoPort: return "record_has_no_interface";
    case BindingRefusal::kPortUnknown: return "port_unknown";
    case BindingRefusal::kPortMismatch: return "port_mismatch";
  }
  return "none";
}

BindingRefusal check_binding(CallerBinding mode, const LinkBinding& record,
                             const std::optional<LinkPeer>& seen) {
  if (mode == CallerBinding::kAddress) return BindingRefusal::kNone;
  if (record.mac.empty()) return BindingRefusal::kRecordHasNoMac;
  if (mode == CallerBinding::kPort && record.interface.empty()) {
    return BindingRefusal::kRecordHasNoPort;
  }
  if (!seen) return BindingRefusal::kNotOnLink;
  if (seen->mac != record.mac) return BindingRefusal::kMacMismatch;
  if (mode == CallerBinding::kMac) return BindingRefusal::kNone;
  if (seen->port.empty()) return BindingRefusal::kPortUnknown;
  if (seen->port != record.interface) return BindingRefusal::kPortMismatch;
  return BindingRefusal::kNone;
}

}  // namespace cloudmeta
