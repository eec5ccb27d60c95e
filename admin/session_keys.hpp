// The admin page's session secrets. Two HMAC-SHA256 subkeys are derived from SECRET_KEY (one per
// purpose, so a value made for one can never pass as the other): one signs the session cookie,
// one derives the CSRF token of a session. Without a SECRET_KEY (tests) the key is random, and
// sessions simply end when the process does. Thread-safe (immutable after construction).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace cloudmeta::admin {

class SessionKeys {
 public:
  explicit SessionKeys(std::string_view secret_key);

  // A new random session id (base64url, 43 characters).
  static std::string new_session_id();
  // "id.signature": the cookie's value.
  std::string sign(std::string_view session_id) const;
  // The session id of a correctly signed cookie value; nullopt for anything else.
  std::optional<std::string> verify(std::string_view cookie_value) const;
  // The session's CSRF token (synchronizer token: derived, so nothing more is stored).
  std::string csrf_token(std::string_view session_id) const;
  // Constant-time comparison of a presented CSRF token with the session's.
  bool csrf_matches(std::string_view session_id, std::string_view presented) const;

 private:
  using Key = std::array<unsigned char, 32>;
  Key cookie_key_{};
  Key csrf_key_{};
};

// The hex SHA-256 under which the store keeps a session (the raw id never reaches the database).
std::string session_id_hash(std::string_view session_id);

}  // namespace cloudmeta::admin
