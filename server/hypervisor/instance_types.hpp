// The instance type a libvirt domain is given from its size: the smallest type of a fixed table
// (AWS's t3 and m5 sizes, docs/hypervisor.md "Instance types") whose vCPUs and memory both cover
// the domain's. Pure and thread-safe. Private to server/hypervisor/.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace cloudmeta::hypervisor {

struct InstanceType {
  std::string_view name;
  unsigned vcpus;
  std::uint64_t memory_mib;
};

// Ordered from the smallest; the first that covers a domain is its type.
std::span<const InstanceType> instance_type_table();

// The first type in the table with at least `vcpus` and `memory_mib`; "" when the domain is
// larger than every type (the record then carries no type and the metadata surface its default).
std::string_view smallest_instance_type(unsigned vcpus, std::uint64_t memory_mib);

}  // namespace cloudmeta::hypervisor
