// CALLER_BINDING: a caller is its record's VM only if the kernel saw it arrive as that VM, not
// just from its address. On a Linux bridge without anti-spoofing rules any guest can send from
// a neighbour's address; it cannot make the host's neighbour table hold the neighbour's MAC
// for that address (mac), nor make its own frames arrive on the neighbour's bridge port (port).
// AWS's VPC makes source addresses unforgeable; a hypervisor host has to check (beyond AWS:
// docs/hypervisor.md, "Binding callers").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cloudmeta/config.hpp"
#include "cloudmeta/ip_key.hpp"
#include "cloudmeta/metadata_tree.hpp"

namespace cloudmeta {

// What the kernel says of a peer address on a directly attached segment.
struct LinkPeer {
  std::string mac;   // the neighbour table's link-layer address, lower case
  std::string port;  // the bridge port that MAC was learned on (or the device itself when the
                     // address is on a tap or veth, not a bridge); empty when not learned
};

// Why a caller was refused; each is counted (/metrics) and logged as binding_mismatch.
enum class BindingRefusal : std::uint8_t {
  kNone,
  kNotOnLink,        // no neighbour entry: loopback, routed, behind a proxy; cannot be verified
  kRecordHasNoMac,   // the record has no `mac` to compare with
  kMacMismatch,
  kRecordHasNoPort,  // CALLER_BINDING=port and the record has no `interface`
  kPortUnknown,      // the bridge has not learned the MAC on any port
  kPortMismatch,
};
inline constexpr std::size_t kBindingRefusalCount = 7;
std::string_view binding_refusal_name(BindingRefusal r);

// The verdict for a record's binding and what the kernel saw (nullopt: no neighbour entry).
BindingRefusal check_binding(CallerBinding mode, const LinkBinding& record,
                             const std::optional<LinkPeer>& seen);

// The kernel's neighbour table, the bridges' forwarding databases and the links' names, read
// once and then followed through a netlink subscription (libnl-route-3's cache manager) on a
// thread of its own, so a lookup (once per connection) reads memory and never waits on netlink.
class NeighbourTable {
 public:
  // Throws std::runtime_error when netlink cannot be opened or read.
  NeighbourTable();
  ~NeighbourTable();
  NeighbourTable(const NeighbourTable&) = delete;
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  std::optional<LinkPeer> lookup(const IpKey& peer) const;
  // Counts the kernel's changes seen so far (a caller that found nothing may look again after
  // it moves).
  std::uint64_t changes() const;
  // False while a change the kernel has already sent is not yet in what lookup() reads: unread
  // on the subscription socket, or read and being condensed. The kernel sends a neighbour or
  // forwarding change from the very frame that causes it, before the frames after it reach the
  // host's TCP, so once accept() has a connection, a lookup made when this is true sees
  // everything its peer's frames changed (a MAC that just moved to another port included).
  bool settled() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloudmeta
