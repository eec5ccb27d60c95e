#include "imds/verified_token_memo.hpp"

#include <sodium.h>

#include <cstring>
#include <memory>

namespace cloudmeta {
namespace {

thread_local std::uint64_t t_hits = 0;

// Token characters 30..37 encode bits of the HMAC tag only (the version, expiry and nonce end at
// byte 17, character 23): uniformly distributed for every token, however many share an expiry.
constexpr std::size_t kIndexOffset = 30;

}  // namespace

std::size_t VerifiedTokenMemo::slot_of(std::string_view token) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, token.data() + kIndexOffset, sizeof bits);
  static_assert(kSlots == 1024, "slot_of keeps the top 10 bits");
  return static_cast<std::size_t>((bits * 0x9E3779B97F4A7C15ull) >> 54);
}

std::optional<std::uint64_t> VerifiedTokenMemo::find(std::uint64_t authority,
                                                     std::string_view token, const IpKey& caller,
                                                     std::string_view instance_id) const {
  if (token.size() != kTokenLength) return std::nullopt;
  const Slot& slot = slots_[slot_of(token)];
  // The caller, authority and instance are not secret: compared first, plainly.
  if (slot.authority != authority || !(slot.caller == caller) ||
      slot.instance_id_size != instance_id.size() ||
      std::memcmp(slot.instance_id.data(), instance_id.data(), instance_id.size()) != 0) {
    return std::nullopt;
  }
  if (sodium_memcmp(slot.token.data(), token.data(), kTokenLength) != 0) return std::nullopt;
  ++t_hits;
  return slot.expiry;
}

void VerifiedTokenMemo::remember(std::uint64_t authority, std::string_view token,
                                 const IpKey& caller, std::string_view instance_id,
                                 std::uint64_t expiry) {
  if (token.size() != kTokenLength || instance_id.size() > kMaxInstanceIdBytes) return;
  Slot& slot = slots_[slot_of(token)];
  slot.authority = authority;
  slot.expiry = expiry;
  slot.caller = caller;
  slot.instance_id_size = static_cast<std::uint8_t>(instance_id.size());
  std::memcpy(slot.instance_id.data(), instance_id.data(), instance_id.size());
  std::memcpy(slot.token.data(), token.data(), kTokenLength);
}

VerifiedTokenMemo& VerifiedTokenMemo::of_this_thread() {
  // On the heap, not in the thread's static TLS block: ~140 KB would be reserved in every thread
  // of the process (the admin and sync threads never verify a token).
  thread_local std::unique_ptr<VerifiedTokenMemo> memo;
  if (!memo) memo = std::make_unique<VerifiedTokenMemo>();
  return *memo;
}

std::uint64_t VerifiedTokenMemo::hits_on_this_thread() { return t_hits; }

}  // namespace cloudmeta
