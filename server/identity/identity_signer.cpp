// IdentitySigner: the signing thread (cloudmeta/identity_signing.hpp).
#include "cloudmeta/identity_signing.hpp"

#include <ctime>
#include <utility>

#include "cloudmeta/log.hpp"

namespace cloudmeta {
namespace {

constexpr std::string_view kDocumentPath = "dynamic/instance-identity/document";

}  // namespace

IdentitySigner::IdentitySigner(const Config& config, Store& store,
                               std::shared_ptr<const SigningKeys> keys)
    : config_(config), store_(store), keys_(std::move(keys)), thread_([this] { run(); }) {}

IdentitySigner::~IdentitySigner() { stop(); }

void IdentitySigner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const SigningKeys> IdentitySigner::keys() {
  std::lock_guard lock(keys_mutex_);
  if (!keys_) keys_ = resolve_signing_keys(config_, store_);
  return keys_;
}

std::vector<IdentityCertificate> IdentitySigner::certificates() {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  // keys() first: it waits for a set the thread is still making rather than make another.
  const auto signing = keys();
  if (!config_.identity_key_file.empty()) return signing->certificates(now);
  return resolve_signing_keys(config_, store_)->certificates(now);
}

void IdentitySigner::run() {
  // The keys are had before any guest asks, so that the first one does not wait for them: a
  // fresh fleet's DSA parameters take up to a second to find, more on a busy host, and a guest
  // that waits longer than kWait is answered 503. A database that does not answer yet is tried
  // again on the first request.
  try {
    keys();
  } catch (const std::exception& e) {
    log_warn("identity_keys_unavailable", {{"error", e.what()}, {"next", "on the first request"}});
  }
  for (;;) {
    Queued next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    // Several connections may queue one rendering before it is signed: the first signs it.
    bool signed_now = next.instance->signatures() != nullptr;
    if (!signed_now) {
      try {
        const Node* document = next.instance->find(kDocumentPath);
        if (!document) throw std::runtime_error("the rendering has no identity document");
        next.instance->set_signatures(std::make_unique<IdentitySignatures>(
            sign_identity_document(document->body, *keys(), next.instance->document_time())));
        signed_now = true;
      } catch (const std::exception& e) {
        // The keys could not be had (the database did not answer) or OpenSSL refused: the
        // connection is answered 503 and the guest's next request tries again.
        log_error("identity_signing_failed", {{"instance", std::string_view(next.instance->instance_id())},
                                              {"error", e.what()}});
      }
    }
    next.done(signed_now);
  }
}

std::shared_ptr<IdentitySigner::Pending> IdentitySigner::submit(
    std::shared_ptr<const void> owner, const RenderedInstance& instance,
    const net::any_io_executor& executor) {
  auto pending = std::make_shared<Pending>();
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= kQueueLimit) return nullptr;
    queue_.push_back({std::move(owner), &instance, PostedWait::completion(pending, executor)});
  }
  wake_.notify_one();
  return pending;
}

}  // namespace cloudmeta
