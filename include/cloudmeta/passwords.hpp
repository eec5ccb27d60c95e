// Superuser passwords: Argon2id through libsodium (crypto_pwhash_str, OPSLIMIT/MEMLIMIT
// INTERACTIVE: about 64 MiB and tens of milliseconds per check, so call it off the I/O threads).
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace cloudmeta {

inline constexpr std::size_t kMinPasswordLength = 8;

std::string hash_password(std::string_view password);  // throws std::runtime_error (out of memory)
bool verify_password(std::string_view password, const std::string& hash);  // constant-time

}  // namespace cloudmeta
