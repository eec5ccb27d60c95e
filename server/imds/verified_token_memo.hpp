// VerifiedTokenMemo: the tokens one metadata thread has verified lately, so that a guest sending
// the same token again (every SDK and cloud-init do, for the token's whole life) costs a
// comparison instead of a base64 decode and an HMAC (about 15,700 instructions, twice a plain
// GET: docs/benchmarks.md).
//
// It only remembers what the full check concluded: a slot says "this exact token, from this
// caller, for this instance, signed by this authority, carries this expiry". The same inputs give
// the same HMAC, so a hit is the verdict the full check would give; the expiry is still compared
// with the clock at every use. Tokens stay stateless: nothing here outlives the process or is
// needed for a token to verify.
//
// Direct-mapped and fixed-size (kSlots): a guest can only insert tokens that verify for its own
// address, so the worst a hostile one can do is evict others' slots, which costs them one full
// check, never a wrong verdict. One per thread: no locks, no sharing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "cloudmeta/ip_key.hpp"

namespace cloudmeta {

class VerifiedTokenMemo {
 public:
  static constexpr std::size_t kSlots = 1024;
  static constexpr std::size_t kTokenLength = 66;       // TokenAuthority::kTokenLength
  static constexpr std::size_t kMaxInstanceIdBytes = 23;  // AWS ids are 10 or 19; longer: not kept

  // The expiry (unix seconds) remembered for exactly these inputs, if any. The token is compared
  // in constant time (it is a credential; the slot may hold another guest's).
  std::optional<std::uint64_t> find(std::uint64_t authority, std::string_view token,
                                    const IpKey& caller, std::string_view instance_id) const;
  // Call only after the full check accepted these inputs.
  void remember(std::uint64_t authority, std::string_view token, const IpKey& caller,
                std::string_view instance_id, std::uint64_t expiry);

  // This thread's memo (allocated on its first use: one allocation per thread, not per request).
  static VerifiedTokenMemo& of_this_thread();
  // How many find() calls hit on this thread (tests prove the memo is used with it).
  static std::uint64_t hits_on_this_thread();

 private:
  struct Slot {
    std::uint64_t authority = 0;  // 0: empty (authorities are numbered from 1)
    std::uint64_t expiry = 0;
    IpKey caller;
    std::uint8_t instance_id_size = 0;
    std::array<char, kMaxInstanceIdBytes> instance_id{};
    std::array<char, kTokenLength> token{};
  };

  static std::size_t slot_of(std::string_view token);

  std::array<Slot, kSlots> slots_{};
};

}  // namespace cloudmeta
