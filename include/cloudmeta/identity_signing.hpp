// Signed instance identity (docs/metadata.md, "Signed identity"): the keys that sign
// dynamic/instance-identity/pkcs7, /signature and /rsa2048, where they come from, and the
// service that signs a rendering's document when one of those is first asked for.
//
// Why on first request and not at render: a signature set costs ~0.7 ms of CPU and ~3 KB, so
// signing every rendering would add ~12 CPU-minutes and ~3 GB to a million-instance fleet's
// start-up, for documents most hosts never serve. Signed on demand, a host pays for the VMs that
// ask it, once per document (the signatures are kept with the rendering until the record
// changes), and the metadata threads never sign: a connection waits for the signing thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/metadata_tree.hpp"
#include "cloudmeta/posted_wait.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta {

// One published certificate, by AWS's names: "dsa" verifies pkcs7, "rsa" verifies signature,
// "rsa2048" verifies rsa2048.
struct IdentityCertificate {
  std::string name;
  std::string pem;
  bool current = true;      // false: a rotated-out set's, still published (see `until`)
  std::int64_t until = 0;   // Unix seconds, for the previous ones
};

// "dsa: verifies dynamic/instance-identity/pkcs7 (current)\n", the line printed before each
// certificate by GET /api/v1/identity/certificates and `cloudmeta identity certificates`.
std::string describe_certificate(const IdentityCertificate& certificate);

// A key set: a DSA key and certificate for pkcs7, an RSA key and certificate for signature and
// rsa2048. Immutable once made; safe to use from any thread.
class SigningKeys {
 public:
  struct Impl;
  explicit SigningKeys(std::unique_ptr<Impl> impl);
  ~SigningKeys();
  SigningKeys(const SigningKeys&) = delete;
  SigningKeys& operator=(const SigningKeys&) = delete;

  // New keys (DSA 2048/224, RSA 2048) and self-signed certificates valid for 30 years.
  static std::shared_ptr<const SigningKeys> generate();
  // The stored form (to_json()); throws std::runtime_error naming what does not parse.
  static std::shared_ptr<const SigningKeys> from_json(std::string_view json);
  // IDENTITY_KEY_FILE and IDENTITY_CERT_FILE (PEM, an RSA key of at least 2048 bits and its
  // certificate), and optionally IDENTITY_DSA_KEY_FILE and IDENTITY_DSA_CERT_FILE for pkcs7
  // (without them pkcs7 is signed with the RSA key, as AWS does in its newer regions). Throws
  // std::runtime_error naming the file and what is wrong with it.
  static std::shared_ptr<const SigningKeys> from_files(const std::string& key_file,
                                                       const std::string& cert_file,
                                                       const std::string& dsa_key_file,
                                                       const std::string& dsa_cert_file);
  // Private keys included: stored in the settings table, like a generated SECRET_KEY.
  std::string to_json() const;
  // dsa, rsa, rsa2048 (rsa and rsa2048 are one certificate), PEM; then those of the sets a
  // rotation replaced that are still published at `now` (Unix seconds).
  std::vector<IdentityCertificate> certificates(std::int64_t now) const;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The three signatures of `document` (its exact bytes), in AWS's served form: pkcs7 and rsa2048
// are BER PKCS#7 SignedData with the document attached and no certificate (SHA-1 with the DSA
// key, SHA-256 with the RSA key), signature a raw RSA PKCS#1 v1.5 SHA-256 signature; each base64
// in 76-character lines. signing_time (Unix seconds; 0: now) is the PKCS#7 signingTime attribute.
IdentitySignatures sign_identity_document(std::string_view document, const SigningKeys& keys,
                                          std::int64_t signing_time);

// IDENTITY_KEY_FILE... when set; otherwise the set stored in the database, made and stored on
// first use, so that every host sharing the database signs with the same keys. Throws
// StoreError or std::runtime_error.
std::shared_ptr<const SigningKeys> resolve_signing_keys(const Config& config, Store& store);

// `cloudmeta identity rotate`: a new key set replaces the stored one, whose certificates stay
// published for overlap_seconds (signatures made before the rotation go on verifying). Refused
// (std::runtime_error) if the stored set changed meanwhile. Servers sign with the new keys once
// restarted. Throws StoreError too.
std::shared_ptr<const SigningKeys> rotate_signing_keys(Store& store, std::int64_t now,
                                                       std::int64_t overlap_seconds);

// Signs renderings' identity documents on a thread of its own. A metadata connection that asks
// for a signature not made yet submits its rendering and waits (at most kWait). The thread reads
// the keys (or makes them, once per fleet) as soon as it starts, not when the first guest asks.
class IdentitySigner {
 public:
  // How long a connection waits before it is answered 503 (the signing then completes, and the
  // next request is served). Signing takes about a millisecond; making the keys, once per
  // fleet, about a second; a Postgres that does not answer, up to DATABASE_TIMEOUT_MS.
  static constexpr auto kWait = std::chrono::seconds(3);
  // Renderings queued at once; beyond it submissions are refused (503), so a flood of first
  // requests from many VMs costs bounded memory.
  static constexpr std::size_t kQueueLimit = 1024;

  // `keys`: resolved already (IDENTITY_KEY_FILE, checked at start); null: the thread resolves them.
  IdentitySigner(const Config& config, Store& store,
                 std::shared_ptr<const SigningKeys> keys = nullptr);
  ~IdentitySigner();
  IdentitySigner(const IdentitySigner&) = delete;
  IdentitySigner& operator=(const IdentitySigner&) = delete;

  using Pending = PostedWait;
  // Metadata thread: queues the rendering (`owner` keeps it alive until it is signed); the
  // completion is posted to `executor`. nullptr when the queue is full or the signer stopped.
  std::shared_ptr<Pending> submit(std::shared_ptr<const void> owner,
                                  const RenderedInstance& instance,
                                  const net::any_io_executor& executor);
  // True when the rendering's signatures are set by the end of the wait (kWait at most).
  static net::awaitable<bool> await(std::shared_ptr<Pending> pending) {
    return PostedWait::await(std::move(pending), kWait);
  }

  // The published certificates (admin thread), read from the store (or the files) each time:
  // after `cloudmeta identity rotate` they show the new set and the previous one at once, also
  // on hosts not restarted yet.
  std::vector<IdentityCertificate> certificates();

  // Ends the thread; queued signings are dropped. Before the metadata io_contexts go.
  void stop();

 private:
  struct Queued {
    std::shared_ptr<const void> owner;
    const RenderedInstance* instance;
    std::function<void(bool)> done;
  };
  void run();
  std::shared_ptr<const SigningKeys> keys();

  const Config& config_;
  Store& store_;
  std::mutex keys_mutex_;
  std::shared_ptr<const SigningKeys> keys_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cloudmeta
