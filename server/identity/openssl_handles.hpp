// OpenSSL objects owned by unique_ptr, and SigningKeys' insides, for server/identity/ alone.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cloudmeta/identity_signing.hpp"

namespace cloudmeta::openssl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Deleter<X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using KeyContext = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using DigestContext = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;

// Throws std::runtime_error with `what` and OpenSSL's first queued error (the queue is cleared).
[[noreturn]] inline void fail(const std::string& what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  std::string message = what;
  if (code != 0) {
    char reason[256];
    ERR_error_string_n(code, reason, sizeof reason);
    message += ": ";
    message += reason;
  }
  throw std::runtime_error(message);
}

// What a memory BIO holds, as bytes.
inline std::string contents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace cloudmeta::openssl

namespace cloudmeta {

struct SigningKeys::Impl {
  openssl::Key dsa_key;  // null: pkcs7 is signed with the RSA key
  openssl::Certificate dsa_cert;
  openssl::Key rsa_key;
  openssl::Certificate rsa_cert;
  // Certificates of the sets a rotation replaced (no keys: they sign nothing any more), still
  // published until `until` (Unix seconds) for signatures made before the rotation.
  struct Previous {
    std::string dsa_cert;  // PEM; empty when that set signed pkcs7 with its RSA key
    std::string rsa_cert;
    std::int64_t until = 0;
  };
  std::vector<Previous> previous;
};

}  // namespace cloudmeta
