// CALLER_BINDING's verdict: what each mode compares, and that it refuses what it cannot verify.
#include "cloudmeta/caller_binding.hpp"

#include <doctest/doctest.h>

using cloudmeta::BindingRefusal;
using cloudmeta::CallerBinding;
using cloudmeta::check_binding;
using cloudmeta::LinkBinding;
using cloudmeta::LinkPeer;

namespace {
const LinkBinding kRecord{"0e:00:5e:00:00:11", "vha"};
const LinkPeer kSame{"0e:00:5e:00:00:11", "vha"};
}  // namespace

TEST_CASE("address: the source address alone, whatever the kernel saw") {
  CHECK(check_binding(CallerBinding::kAddress, kRecord, std::nullopt) == BindingRefusal::kNone);
  CHECK(check_binding(CallerBinding::kAddress, kRecord, LinkPeer{"0e:00:5e:00:00:99", "vhm"}) ==
        BindingRefusal::kNone);
  CHECK(check_binding(CallerBinding::kAddress, LinkBinding{}, std::nullopt) ==
        BindingRefusal::kNone);
}

TEST_CASE("mac: the neighbour table's MAC must be the record's, the port is not looked at") {
  CHECK(check_binding(CallerBinding::kMac, kRecord, kSame) == BindingRefusal::kNone);
  CHECK(check_binding(CallerBinding::kMac, kRecord, LinkPeer{"0e:00:5e:00:00:11", "vhm"}) ==
        BindingRefusal::kNone);
  CHECK(check_binding(CallerBinding::kMac, kRecord, LinkPeer{"0e:00:5e:00:00:99", "vha"}) ==
        BindingRefusal::kMacMismatch);
  CHECK(check_binding(CallerBinding::kMac, kRecord, std::nullopt) == BindingRefusal::kNotOnLink);
  CHECK(check_binding(CallerBinding::kMac, LinkBinding{"", "vha"}, kSame) ==
        BindingRefusal::kRecordHasNoMac);
}

TEST_CASE("port: the MAC and the bridge port it was learned on must both be the record's") {
  CHECK(check_binding(CallerBinding::kPort, kRecord, kSame) == BindingRefusal::kNone);
  // A guest that forges both the address and the MAC: its frames arrive on its own port.
  CHECK(check_binding(CallerBinding::kPort, kRecord, LinkPeer{"0e:00:5e:00:00:11", "vhm"}) ==
        BindingRefusal::kPortMismatch);
  CHECK(check_binding(CallerBinding::kPort, kRecord, LinkPeer{"0e:00:5e:00:00:99", "vha"}) ==
        BindingRefusal::kMacMismatch);
  CHECK(check_binding(CallerBinding::kPort, kRecord, LinkPeer{"0e:00:5e:00:00:11", ""}) ==
        BindingRefusal::kPortUnknown);
  CHECK(check_binding(CallerBinding::kPort, kRecord, std::nullopt) ==
        BindingRefusal::kNotOnLink);
  CHECK(check_binding(CallerBinding::kPort, LinkBinding{"0e:00:5e:00:00:11", ""}, kSame) ==
        BindingRefusal::kRecordHasNoPort);
  CHECK(check_binding(CallerBinding::kPort, LinkBinding{"", "vha"}, kSame) ==
        BindingRefusal::kRecordHasNoMac);
}

TEST_CASE("every refusal has a metric label of its own") {
  for (std::size_t i = 0; i < cloudmeta::kBindingRefusalCount; ++i) {
    const auto name = cloudmeta::binding_refusal_name(static_cast<BindingRefusal>(i));
    CAPTURE(i);
    CHECK(!name.empty());
    for (std::size_t j = 0; j < i; ++j) {
      CHECK(name != cloudmeta::binding_refusal_name(static_cast<BindingRefusal>(j)));
    }
  }
}
