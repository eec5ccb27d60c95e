// sign_identity_document(): the identity document's three signatures in the exact form EC2
// serves them (docs/metadata.md, "Signed identity"), so that AWS's documented openssl commands
// and every verifier written against EC2 accept them:
// - PKCS#7 SignedData as BER with indefinite lengths (EC2's begin "MIAGCSqGSIb3DQEHAqCA"), the
//   document attached, no certificate inside (verifiers pass it with -certfile), signed
//   attributes contentType, signingTime and messageDigest only;
// - base64 in lines of 76 characters joined by "\n", without a final newline (AWS's
//   verification appends one before "-----END PKCS7-----").
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "identity/openssl_handles.hpp"

namespace cloudmeta {
namespace {

using openssl::fail;

constexpr std::size_t kLineLength = 76;

std::string base64_lines(const unsigned char* data, std::size_t size) {
  std::string flat(4 * ((size + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(flat.data()), data,
                                      static_cast<int>(size));
  flat.resize(static_cast<std::size_t>(written));
  std::string out;
  out.reserve(flat.size() + flat.size() / kLineLength);
  for (std::size_t i = 0; i < flat.size(); i += kLineLength) {
    if (i != 0) out += '\n';
    out.append(flat, i, kLineLength);
  }
  return out;
}

// PKCS7_BINARY: the document's bytes as they are (S/MIME's text mode would sign a copy with
// CRLF line ends, which the documented commands then reject).
std::string pkcs7(std::string_view document, EVP_PKEY* key, X509* cert, const EVP_MD* digest,
                  std::int64_t signing_time) {
  constexpr int kFlags =
      PKCS7_BINARY | PKCS7_NOCERTS | PKCS7_NOSMIMECAP | PKCS7_STREAM | PKCS7_PARTIAL;
  std::unique_ptr<PKCS7, openssl::Deleter<PKCS7_free>> p7(
      PKCS7_sign(nullptr, nullptr, nullptr, nullptr, kFlags));
  if (!p7) fail("starting a PKCS#7 signature");
  PKCS7_SIGNER_INFO* signer = PKCS7_sign_add_signer(p7.get(), cert, key, digest, kFlags);
  if (!signer) fail("adding the PKCS#7 signer");
  // OpenSSL adds the current time only where no signingTime is set: the record's last change
  // makes every host of a fleet sign alike.
  if (signing_time > 0) {
    ASN1_TIME* when = ASN1_TIME_set(nullptr, static_cast<time_t>(signing_time));
    if (!when || PKCS7_add0_attrib_signing_time(signer, when) != 1) {
      ASN1_TIME_free(when);
      fail("setting the PKCS#7 signing time");
    }
  }
  openssl::Bio content(BIO_new_mem_buf(document.data(), static_cast<int>(document.size())));
  openssl::Bio out(BIO_new(BIO_s_mem()));
  if (!content || !out || i2d_PKCS7_bio_stream(out.get(), p7.get(), content.get(), kFlags) != 1) {
    fail("writing a PKCS#7 signature");
  }
  const std::string der = openssl::contents(out.get());
  return base64_lines(reinterpret_cast<const unsigned char*>(der.data()), der.size());
}

std::string raw_signature(std::string_view document, EVP_PKEY* key) {
  openssl::DigestContext ctx(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(document.data()),
                     document.size()) != 1) {
    fail("starting an RSA signature");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(document.data()),
                     document.size()) != 1) {
    fail("making an RSA signature");
  }
  return base64_lines(reinterpret_cast<const unsigned char*>(signature.data()), size);
}

}  // namespace

IdentitySignatures sign_identity_document(std::string_view document, const SigningKeys& keys,
                                          std::int64_t signing_time) {
  const SigningKeys::Impl& k = keys.impl();
  IdentitySignatures out;
  // SHA-1 with the DSA key, as EC2's pkcs7; an operator's RSA-only set signs it with SHA-256.
  out.pkcs7 = k.dsa_key ? pkcs7(document, k.dsa_key.get(), k.dsa_cert.get(), EVP_sha1(),
                                signing_time)
                        : pkcs7(document, k.rsa_key.get(), k.rsa_cert.get(), EVP_sha256(),
                                signing_time);
  out.rsa2048 = pkcs7(document, k.rsa_key.get(), k.rsa_cert.get(), EVP_sha256(), signing_time);
  out.signature = raw_signature(document, k.rsa_key.get());
  return out;
}

}  // namespace cloudmeta
