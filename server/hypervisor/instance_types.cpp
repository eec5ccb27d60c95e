#include "hypervisor/instance_types.hpp"

#include <array>

namespace cloudmeta::hypervisor {
namespace {

// AWS's published sizes (vCPUs, GiB): t3 up to 8 vCPUs (burstable, what a small VM resembles),
// then m5 (general purpose) up to its largest, 96 vCPUs and 384 GiB. No type in between is
// smaller in both dimensions than the next one here, so "the first that covers" is the smallest.
constexpr std::array<InstanceType, 12> kTypes{{
    {"t3.nano", 2, 512},
    {"t3.micro", 2, 1024},
    {"t3.small", 2, 2 * 1024},
    {"t3.medium", 2, 4 * 1024},
    {"t3.large", 2, 8 * 1024},
    {"t3.xlarge", 4, 16 * 1024},
    {"t3.2xlarge", 8, 32 * 1024},
    {"m5.4xlarge", 16, 64 * 1024},
    {"m5.8xlarge", 32, 128 * 1024},
    {"m5.12xlarge", 48, 192 * 1024},
    {"m5.16xlarge", 64, 256 * 1024},
    {"m5.24xlarge", 96, 384 * 1024},
}};

}  // namespace

std::span<const InstanceType> instance_type_table() { return kTypes; }

std::string_view smallest_instance_type(unsigned vcpus, std::uint64_t memory_mib) {
  for (const InstanceType& t : kTypes) {
    if (t.vcpus >= vcpus && t.memory_mib >= memory_mib) return t.name;
  }
  return {};
}

}  // namespace cloudmeta::hypervisor
