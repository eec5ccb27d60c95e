// SigningKeys: making, storing, loading and publishing the identity documents' keys.
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/dsa.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "cloudmeta/log.hpp"
#include "identity/openssl_handles.hpp"

namespace cloudmeta {
namespace {

using openssl::fail;

constexpr int kRsaBits = 2048;
// DSA with a 224-bit q: AWS's pkcs7 key is DSA 1024/160, which NIST has not allowed for new
// signatures since 2013; 2048/224 is the smallest size it does allow (docs/metadata.md).
constexpr int kDsaBits = 2048;
constexpr int kDsaQBits = 224;
constexpr long kValidDays = 30 * 365;  // AWS's certificates are valid for decades too
constexpr std::string_view kSettingKey = "identity_signing_keys";

openssl::Key generate_rsa() {
  openssl::Key key(EVP_RSA_gen(kRsaBits));
  if (!key) fail("generating the RSA identity key");
  return key;
}

openssl::Key generate_dsa() {
  openssl::KeyContext param_ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr));
  EVP_PKEY* params = nullptr;
  if (!param_ctx || EVP_PKEY_paramgen_init(param_ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_dsa_paramgen_bits(param_ctx.get(), kDsaBits) <= 0 ||
      EVP_PKEY_CTX_set_dsa_paramgen_q_bits(param_ctx.get(), kDsaQBits) <= 0 ||
      EVP_PKEY_paramgen(param_ctx.get(), &params) <= 0) {
    fail("generating the DSA identity key's parameters");
  }
  const openssl::Key owned_params(params);
  openssl::KeyContext key_ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr));
  EVP_PKEY* key = nullptr;
  if (!key_ctx || EVP_PKEY_keygen_init(key_ctx.get()) <= 0 ||
      EVP_PKEY_keygen(key_ctx.get(), &key) <= 0) {
    fail("generating the DSA identity key");
  }
  return openssl::Key(key);
}

openssl::Certificate self_signed(EVP_PKEY* key, const char* common_name) {
  openssl::Certificate cert(X509_new());
  if (!cert) fail("making a certificate");
  // A random 127-bit serial, as CAs use: two certificates of one subject never share one.
  BIGNUM* serial = BN_new();
  const bool ok =
      serial && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
      BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr &&
      X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), kValidDays, 0, nullptr) != nullptr &&
      X509_set_pubkey(cert.get(), key) == 1;
  BN_free(serial);
  if (!ok) fail("making a certificate");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto add = [name](const char* field, const char* value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC,
                                      reinterpret_cast<const unsigned char*>(value), -1, -1, 0);
  };
  if (add("O", "cloudmeta") != 1 || add("CN", common_name) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 ||
      X509_sign(cert.get(), key, EVP_sha256()) <= 0) {
    fail("signing a certificate");
  }
  return cert;
}

std::string key_pem(EVP_PKEY* key) {
  openssl::Bio out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("writing a key");
  }
  return openssl::contents(out.get());
}

std::string cert_pem(X509* cert) {
  openssl::Bio out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert) != 1) fail("writing a certificate");
  return openssl::contents(out.get());
}

// A key protected by a passphrase is refused rather than asked for: OpenSSL's default callback
// would prompt on the terminal of whoever runs the command.
int no_passphrase(char*, int, int, void*) { return 0; }

openssl::Key read_key(std::string_view pem, const std::string& what) {
  openssl::Bio in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  openssl::Key key(in ? PEM_read_bio_PrivateKey(in.get(), nullptr, no_passphrase, nullptr)
                      : nullptr);
  if (!key) fail(what + ": not a PEM private key (or one protected by a passphrase)");
  return key;
}

openssl::Certificate read_cert(std::string_view pem, const std::string& what) {
  openssl::Bio in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  openssl::Certificate cert(in ? PEM_read_bio_X509(in.get(), nullptr, no_passphrase, nullptr)
                               : nullptr);
  if (!cert) fail(what + ": not a PEM certificate");
  return cert;
}

// The pair must belong together and be of the kind its signatures need.
void check_pair(EVP_PKEY* key, X509* cert, const char* type, int min_bits,
                const std::string& what) {
  if (EVP_PKEY_is_a(key, type) != 1) {
    throw std::runtime_error(what + ": the key must be " + type);
  }
  if (EVP_PKEY_get_bits(key) < min_bits) {
    throw std::runtime_error(what + ": the key has " + std::to_string(EVP_PKEY_get_bits(key)) +
                             " bits; at least " + std::to_string(min_bits) + " are needed");
  }
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    throw std::runtime_error(what + ": the certificate is not the key's");
  }
}

std::string read_file(const std::string& path, const std::string& setting) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(setting + ": cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  // PEM files of keys and certificates are a few KiB; a larger one is not what was meant.
  if (text.str().size() > 64 * 1024) throw std::runtime_error(setting + ": " + path + " is over 64 KiB");
  return text.str();
}

}  // namespace

SigningKeys::SigningKeys(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKeys::~SigningKeys() = default;

std::shared_ptr<const SigningKeys> SigningKeys::generate() {
  auto impl = std::make_unique<Impl>();
  impl->dsa_key = generate_dsa();
  impl->dsa_cert = self_signed(impl->dsa_key.get(), "cloudmeta instance identity (DSA)");
  impl->rsa_key = generate_rsa();
  impl->rsa_cert = self_signed(impl->rsa_key.get(), "cloudmeta instance identity (RSA)");
  return std::make_shared<const SigningKeys>(std::move(impl));
}

std::string SigningKeys::to_json() const {
  nlohmann::json j;
  j["version"] = 1;
  if (impl_->dsa_key) {
    j["dsa_key"] = key_pem(impl_->dsa_key.get());
    j["dsa_cert"] = cert_pem(impl_->dsa_cert.get());
  }
  j["rsa_key"] = key_pem(impl_->rsa_key.get());
  j["rsa_cert"] = cert_pem(impl_->rsa_cert.get());
  if (!impl_->previous.empty()) {
    j["previous"] = nlohmann::json::array();
    for (const auto& p : impl_->previous) {
      j["previous"].push_back({{"dsa_cert", p.dsa_cert}, {"rsa_cert", p.rsa_cert}, {"until", p.until}});
    }
  }
  return j.dump();
}

std::shared_ptr<const SigningKeys> SigningKeys::from_json(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("rsa_key") || !j["rsa_key"].is_string() ||
      !j.contains("rsa_cert") || !j["rsa_cert"].is_string()) {
    throw std::runtime_error("stored identity keys: not the form this version writes");
  }
  auto impl = std::make_unique<Impl>();
  impl->rsa_key = read_key(j["rsa_key"].get<std::string>(), "stored identity keys (RSA)");
  impl->rsa_cert = read_cert(j["rsa_cert"].get<std::string>(), "stored identity keys (RSA)");
  check_pair(impl->rsa_key.get(), impl->rsa_cert.get(), "RSA", kRsaBits,
             "stored identity keys (RSA)");
  if (j.contains("dsa_key") && j["dsa_key"].is_string() && j.contains("dsa_cert") &&
      j["dsa_cert"].is_string()) {
    impl->dsa_key = read_key(j["dsa_key"].get<std::string>(), "stored identity keys (DSA)");
    impl->dsa_cert = read_cert(j["dsa_cert"].get<std::string>(), "stored identity keys (DSA)");
    check_pair(impl->dsa_key.get(), impl->dsa_cert.get(), "DSA", kDsaBits,
               "stored identity keys (DSA)");
  }
  if (j.contains("previous")) {
    if (!j["previous"].is_array()) throw std::runtime_error("stored identity keys: bad previous");
    for (const auto& p : j["previous"]) {
      if (!p.is_object() || !p.contains("rsa_cert") || !p["rsa_cert"].is_string() ||
          !p.contains("dsa_cert") || !p["dsa_cert"].is_string() || !p.contains("until") ||
          !p["until"].is_number_integer()) {
        throw std::runtime_error("stored identity keys: bad previous certificate entry");
      }
      impl->previous.push_back(Impl::Previous{p["dsa_cert"].get<std::string>(),
                                              p["rsa_cert"].get<std::string>(),
                                              p["until"].get<std::int64_t>()});
    }
  }
  return std::make_shared<const SigningKeys>(std::move(impl));
}

std::shared_ptr<const SigningKeys> SigningKeys::from_files(const std::string& key_file,
                                                           const std::string& cert_file,
                                                           const std::string& dsa_key_file,
                                                           const std::string& dsa_cert_file) {
  auto impl = std::make_unique<Impl>();
  impl->rsa_key = read_key(read_file(key_file, "IDENTITY_KEY_FILE"), "IDENTITY_KEY_FILE " + key_file);
  impl->rsa_cert =
      read_cert(read_file(cert_file, "IDENTITY_CERT_FILE"), "IDENTITY_CERT_FILE " + cert_file);
  check_pair(impl->rsa_key.get(), impl->rsa_cert.get(), "RSA", kRsaBits,
             "IDENTITY_KEY_FILE/IDENTITY_CERT_FILE");
  if (!dsa_key_file.empty()) {
    impl->dsa_key = read_key(read_file(dsa_key_file, "IDENTITY_DSA_KEY_FILE"),
                             "IDENTITY_DSA_KEY_FILE " + dsa_key_file);
    impl->dsa_cert = read_cert(read_file(dsa_cert_file, "IDENTITY_DSA_CERT_FILE"),
                               "IDENTITY_DSA_CERT_FILE " + dsa_cert_file);
    // An operator's own DSA key may be AWS's size; the generated one is larger (above).
    check_pair(impl->dsa_key.get(), impl->dsa_cert.get(), "DSA", 1024,
               "IDENTITY_DSA_KEY_FILE/IDENTITY_DSA_CERT_FILE");
  }
  return std::make_shared<const SigningKeys>(std::move(impl));
}

std::vector<IdentityCertificate> SigningKeys::certificates(std::int64_t now) const {
  const std::string rsa = cert_pem(impl_->rsa_cert.get());
  std::vector<IdentityCertificate> out = {
      {"dsa", impl_->dsa_cert ? cert_pem(impl_->dsa_cert.get()) : rsa, true},
      {"rsa", rsa, true},
      {"rsa2048", rsa, true}};
  for (const auto& p : impl_->previous) {
    if (p.until <= now) continue;
    out.push_back({"dsa", p.dsa_cert.empty() ? p.rsa_cert : p.dsa_cert, false, p.until});
    out.push_back({"rsa", p.rsa_cert, false, p.until});
    out.push_back({"rsa2048", p.rsa_cert, false, p.until});
  }
  return out;
}

std::string describe_certificate(const IdentityCertificate& certificate) {
  std::string line = certificate.name;
  line += certificate.name == "dsa"   ? ": verifies dynamic/instance-identity/pkcs7"
          : certificate.name == "rsa" ? ": verifies dynamic/instance-identity/signature"
                                      : ": verifies dynamic/instance-identity/rsa2048";
  if (certificate.current) {
    line += " (current)\n";
  } else {
    char until[32];
    const auto t = static_cast<std::time_t>(certificate.until);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    line += " (rotated out; published until ";
    line += until;
    line += ")\n";
  }
  return line;
}

std::shared_ptr<const SigningKeys> rotate_signing_keys(Store& store, std::int64_t now,
                                                       std::int64_t overlap_seconds) {
  const std::optional<std::string> stored = store.get_setting(kSettingKey);
  auto rotated = std::make_unique<SigningKeys::Impl>();
  {
    auto fresh = SigningKeys::generate();
    const SigningKeys::Impl& made = fresh->impl();
    rotated->dsa_key.reset(EVP_PKEY_dup(made.dsa_key.get()));
    rotated->dsa_cert.reset(X509_dup(made.dsa_cert.get()));
    rotated->rsa_key.reset(EVP_PKEY_dup(made.rsa_key.get()));
    rotated->rsa_cert.reset(X509_dup(made.rsa_cert.get()));
    if (!rotated->dsa_key || !rotated->dsa_cert || !rotated->rsa_key || !rotated->rsa_cert) {
      fail("copying the new identity keys");
    }
  }
  if (stored) {
    const auto old = SigningKeys::from_json(*stored);
    const SigningKeys::Impl& o = old->impl();
    rotated->previous.push_back({o.dsa_cert ? cert_pem(o.dsa_cert.get()) : std::string(),
                                 cert_pem(o.rsa_cert.get()), now + overlap_seconds});
    for (const auto& p : o.previous) {
      if (p.until > now) rotated->previous.push_back(p);
    }
  }
  auto keys = std::make_shared<const SigningKeys>(std::move(rotated));
  const std::string json = keys->to_json();
  const bool written = stored ? store.replace_setting(kSettingKey, *stored, json)
                              : store.get_or_create_setting(kSettingKey, json) == json;
  if (!written) {
    throw std::runtime_error("the identity keys changed while they were being rotated; run it again");
  }
  return keys;
}

std::shared_ptr<const SigningKeys> resolve_signing_keys(const Config& config, Store& store) {
  if (!config.identity_key_file.empty()) {
    return SigningKeys::from_files(config.identity_key_file, config.identity_cert_file,
                                   config.identity_dsa_key_file, config.identity_dsa_cert_file);
  }
  if (auto stored = store.get_setting(kSettingKey)) return SigningKeys::from_json(*stored);
  // First use in this database: make a set and store it unless another host stored one
  // meanwhile; either way every host then reads the one stored.
  const std::string made = SigningKeys::generate()->to_json();
  const std::string stored = store.get_or_create_setting(kSettingKey, made);
  log_info("identity_keys_ready",
           {{"source", stored == made ? "generated and stored" : "stored by another host"}});
  return SigningKeys::from_json(stored);
}

}  // namespace cloudmeta
