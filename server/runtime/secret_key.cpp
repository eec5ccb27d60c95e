#include "runtime/secret_key.hpp"

#include <sodium.h>

#include "cloudmeta/log.hpp"

namespace cloudmeta {

std::string resolve_secret_key(const Config& config, Store& store) {
  if (!config.secret_key.empty()) return config.secret_key;
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  std::string key = store.get_or_create_setting("secret_key", hex);
  sodium_memzero(hex, sizeof hex);
  log_warn("secret_key_from_database",
           {{"hint", "SECRET_KEY is unset: using the key stored in the database; set SECRET_KEY "
                     "to manage it yourself"}});
  return key;
}

}  // namespace cloudmeta
