// Signed identity (cloudmeta/identity_signing.hpp): the three signatures checked with OpenSSL's
// own verification, the served form, the stored key set, and how the metadata surface hands a
// signature that is not made yet to its caller. The documented openssl commands are run against
// the real server in tests/integration/test_identity_signatures.sh.
#include "cloudmeta/identity_signing.hpp"

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cloudmeta/imds.hpp"
#include "cloudmeta/snapshot.hpp"

using namespace cloudmeta;

namespace {

const std::string kDocument = "{\n  \"accountId\" : \"123456789012\",\n  \"region\" : \"eu-west-1\"\n}";
constexpr std::int64_t kSigningTime = 1'790'000'000;

// Made once: DSA parameters take about a second.
const SigningKeys& keys() {
  static const std::shared_ptr<const SigningKeys> made = SigningKeys::generate();
  return *made;
}

std::string certificate_of(std::string_view name) {
  for (const auto& c : keys().certificates(0)) {
    if (c.name == name) return c.pem;
  }
  return {};
}

struct Freed {
  void operator()(BIO* p) const { BIO_free_all(p); }
  void operator()(PKCS7* p) const { PKCS7_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Freed>;

std::string decoded(const std::string& lines) {
  std::string flat;
  for (char c : lines) {
    if (c != '\n') flat += c;
  }
  std::string out(flat.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(flat.data()),
                                static_cast<int>(flat.size()));
  REQUIRE(n >= 0);
  out.resize(static_cast<std::size_t>(n) - std::count(flat.end() - 2, flat.end(), '='));
  return out;
}

Owned<X509> read_cert(const std::string& pem) {
  Owned<BIO> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return Owned<X509>(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
}

Owned<PKCS7> read_pkcs7(const std::string& served) {
  const std::string der = decoded(served);
  Owned<BIO> in(BIO_new_mem_buf(der.data(), static_cast<int>(der.size())));
  return Owned<PKCS7>(d2i_PKCS7_bio(in.get(), nullptr));
}

// PKCS7_verify as `openssl smime -verify -certfile CERT -noverify -nointern -content DOC` does it.
bool pkcs7_verifies(const std::string& served, const std::string& cert_pem,
                    const std::string& content) {
  Owned<PKCS7> p7 = read_pkcs7(served);
  REQUIRE(p7);
  Owned<X509> cert = read_cert(cert_pem);
  REQUIRE(cert);
  STACK_OF(X509)* certs = sk_X509_new_null();
  sk_X509_push(certs, cert.get());
  Owned<BIO> data(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
  const int ok = PKCS7_verify(p7.get(), certs, nullptr, data.get(), nullptr,
                              PKCS7_NOINTERN | PKCS7_NOVERIFY | PKCS7_BINARY);
  sk_X509_free(certs);
  return ok == 1;
}

bool signature_verifies(const std::string& served, const std::string& cert_pem,
                        const std::string& content) {
  Owned<X509> cert = read_cert(cert_pem);
  Owned<EVP_PKEY> key(X509_get_pubkey(cert.get()));
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  const std::string raw = decoded(served);
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(raw.data()),
                          raw.size(), reinterpret_cast<const unsigned char*>(content.data()),
                          content.size()) == 1;
}

}  // namespace

TEST_CASE("the three signatures verify the document's exact bytes, and nothing else") {
  const IdentitySignatures s = sign_identity_document(kDocument, keys(), kSigningTime);
  CHECK(pkcs7_verifies(s.pkcs7, certificate_of("dsa"), kDocument));
  CHECK(pkcs7_verifies(s.rsa2048, certificate_of("rsa2048"), kDocument));
  CHECK(signature_verifies(s.signature, certificate_of("rsa"), kDocument));

  std::string changed = kDocument;
  changed[changed.find("eu-west-1")] = 'x';
  CHECK_FALSE(pkcs7_verifies(s.pkcs7, certificate_of("dsa"), changed));
  CHECK_FALSE(pkcs7_verifies(s.rsa2048, certificate_of("rsa2048"), changed));
  CHECK_FALSE(signature_verifies(s.signature, certificate_of("rsa"), changed));
  // S/MIME text mode would have signed CRLF line ends: the document's own LFs are what count.
  std::string crlf;
  for (char c : kDocument) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  CHECK_FALSE(pkcs7_verifies(s.pkcs7, certificate_of("dsa"), crlf));
  // Each signature needs its own certificate: the DSA one does not verify rsa2048.
  CHECK_FALSE(pkcs7_verifies(s.rsa2048, certificate_of("dsa"), kDocument));
}

TEST_CASE("the served form is EC2's: BER with the document attached, no certificate, 76-column base64") {
  const IdentitySignatures s = sign_identity_document(kDocument, keys(), kSigningTime);
  CHECK(s.pkcs7.starts_with("MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCA"));
  CHECK(s.rsa2048.starts_with("MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwGggCSA"));
  for (const std::string* served : {&s.pkcs7, &s.rsa2048, &s.signature}) {
    CHECK(served->back() != '\n');
    std::istringstream lines(*served);
    std::vector<std::string> all;
    for (std::string line; std::getline(lines, line);) all.push_back(line);
    REQUIRE(all.size() >= 2);
    for (std::size_t i = 0; i + 1 < all.size(); ++i) CHECK(all[i].size() == 76);
    CHECK(all.back().size() <= 76);
  }
  CHECK(decoded(s.signature).size() == 256);  // RSA 2048

  const Owned<PKCS7> p7 = read_pkcs7(s.pkcs7);
  REQUIRE(p7);
  CHECK(PKCS7_type_is_signed(p7.get()));
  CHECK(sk_X509_num(p7->d.sign->cert) <= 0);
  // The document travels inside, byte for byte.
  const ASN1_OCTET_STRING* content = p7->d.sign->contents->d.data;
  CHECK(std::string(reinterpret_cast<const char*>(content->data), content->length) == kDocument);
  // Signed attributes: contentType, signingTime (the one given), messageDigest; nothing else.
  PKCS7_SIGNER_INFO* signer = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7.get()), 0);
  CHECK(sk_X509_ATTRIBUTE_num(signer->auth_attr) == 3);
  const ASN1_TYPE* when = PKCS7_get_signed_attribute(signer, NID_pkcs9_signingTime);
  REQUIRE(when);
  ASN1_TIME* expected = ASN1_TIME_set(nullptr, static_cast<time_t>(kSigningTime));
  CHECK(ASN1_TIME_compare(when->value.utctime, expected) == 0);
  ASN1_TIME_free(expected);
}

TEST_CASE("RSA signatures of one document at one signing time are the same bytes on any host") {
  const IdentitySignatures a = sign_identity_document(kDocument, keys(), kSigningTime);
  const IdentitySignatures b = sign_identity_document(kDocument, keys(), kSigningTime);
  CHECK(a.rsa2048 == b.rsa2048);
  CHECK(a.signature == b.signature);
  // DSA signatures are randomised; both verify.
  CHECK(pkcs7_verifies(b.pkcs7, certificate_of("dsa"), kDocument));
}

TEST_CASE("the stored key set reads back as the same keys, and a damaged one is refused") {
  const auto again = SigningKeys::from_json(keys().to_json());
  for (const auto& c : again->certificates(0)) CHECK(c.pem == certificate_of(c.name));
  const IdentitySignatures s = sign_identity_document(kDocument, *again, kSigningTime);
  CHECK(pkcs7_verifies(s.pkcs7, certificate_of("dsa"), kDocument));
  CHECK(s.rsa2048 == sign_identity_document(kDocument, keys(), kSigningTime).rsa2048);
  CHECK(certificate_of("rsa") == certificate_of("rsa2048"));

  CHECK_THROWS_AS(SigningKeys::from_json("{}"), std::runtime_error);
  CHECK_THROWS_AS(SigningKeys::from_json("not json"), std::runtime_error);
  CHECK_THROWS_AS(SigningKeys::from_json(R"({"rsa_key": "x", "rsa_cert": "y"})"),
                  std::runtime_error);
  // The RSA certificate with the DSA key: not a pair.
  auto stored = nlohmann::json::parse(keys().to_json());
  stored["rsa_cert"] = stored["dsa_cert"];
  CHECK_THROWS_AS(SigningKeys::from_json(stored.dump()), std::runtime_error);
}

TEST_CASE("the metadata surface hands an unsigned leaf to its caller, then serves the signature") {
  InstanceRecord r;
  r.instance_id = "i-0123456789abcdef0";
  r.ip = "198.18.0.10";
  r.created_at = "2026-11-22T10:00:00Z";
  r.updated_at = "2026-11-23T10:00:00Z";
  const auto snapshot = Snapshot::build({r}, 1);
  const TokenAuthority tokens("unit-test-secret-key-0123456789abcdef");
  imds::Request req;
  req.target = "/latest/dynamic/instance-identity/rsa2048";
  req.caller = *IpKey::parse("198.18.0.10");
  imds::Response first = imds::respond(req, *snapshot, tokens, 1'800'000'000);
  CHECK(first.status == 200);
  CHECK(first.unsigned_leaf == SignedLeaf::kRsa2048);
  REQUIRE(first.instance);
  CHECK(first.instance->document_time() == 1'795'428'000);  // 2026-11-23T10:00:00Z

  const Node* document = first.instance->find("dynamic/instance-identity/document");
  REQUIRE(document);
  first.instance->set_signatures(std::make_unique<IdentitySignatures>(
      sign_identity_document(document->body, keys(), first.instance->document_time())));
  const imds::Response then = imds::respond(req, *snapshot, tokens, 1'800'000'000);
  CHECK(then.unsigned_leaf == SignedLeaf::kNone);
  CHECK(then.body == first.instance->signatures()->rsa2048);
  CHECK(pkcs7_verifies(std::string(then.body), certificate_of("rsa2048"), document->body));
  // A second signing of the same rendering is discarded: the first stays served.
  first.instance->set_signatures(std::make_unique<IdentitySignatures>());
  CHECK(imds::respond(req, *snapshot, tokens, 1'800'000'000).body == then.body);
}
