#include "http/session_scratch.hpp"

#include <vector>

namespace cloudmeta::http_server {
namespace {

std::vector<std::unique_ptr<SessionScratch>>& free_list() {
  thread_local std::vector<std::unique_ptr<SessionScratch>> list;
  return list;
}

}  // namespace

ScratchLease::ScratchLease(std::size_t max_buffer) {
  auto& list = free_list();
  if (list.empty()) {
    scratch_ = std::make_unique<SessionScratch>();
    scratch_->head.reserve(512);
  } else {
    scratch_ = std::move(list.back());
    list.pop_back();
  }
  scratch_->buffer.max_size(max_buffer);
}

ScratchLease::~ScratchLease() {
  auto& list = free_list();
  if (list.size() >= kMaxPooled || scratch_->buffer.capacity() > kMaxKeptBuffer ||
      scratch_->head.capacity() > kMaxKeptHead ||
      scratch_->proxy_list.capacity() > kMaxKeptBuffer) {
    return;  // freed with the lease
  }
  scratch_->buffer.clear();  // bytes a client sent after its last request are no one's
  scratch_->head.clear();
  if (list.capacity() == 0) list.reserve(kMaxPooled);
  list.push_back(std::move(scratch_));
}

std::size_t ScratchLease::pooled_on_this_thread() { return free_list().size(); }

}  // namespace cloudmeta::http_server
