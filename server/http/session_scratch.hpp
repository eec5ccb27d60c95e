// SessionScratch: a metadata connection's working memory (header-field arena, read buffer,
// response buffer, joined proxy header), kept on a per-thread free list between connections. A
// connection-per-request client (most SDK calls open one) would otherwise get freshly allocated,
// cache-cold memory three times per request, and the ~2.5 KiB arena inline would make the
// session's coroutine frame too big for Asio's frame recycling (1 KiB at most):
// docs/benchmarks.md, "Where the remaining cost is". Leased and returned on the connection's own
// thread (one thread per metadata io_context).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "cloudmeta/asio.hpp"
#include "http/fields_arena.hpp"

namespace cloudmeta::http_server {

struct SessionScratch {
  FieldsArena arena;         // every request's header fields
  beast::flat_buffer buffer;  // bytes read, not yet parsed
  std::string head;          // the response, head and body: one buffer, one send
  std::string proxy_list;    // a proxy header sent in several lines, joined (imds_headers.hpp)
};

class ScratchLease {
 public:
  // What a thread keeps: enough for a burst of connections opening at once, and never a buffer
  // that one large request grew (it is freed instead of pooled).
  static constexpr std::size_t kMaxPooled = 64;
  static constexpr std::size_t kMaxKeptBuffer = 16 * 1024;
  static constexpr std::size_t kMaxKeptHead = 64 * 1024;

  // Empty scratch whose read buffer holds at most `max_buffer` bytes.
  explicit ScratchLease(std::size_t max_buffer);
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;

  SessionScratch& operator*() { return *scratch_; }
  SessionScratch* operator->() { return scratch_.get(); }

  // Scratch held on this thread's free list (for tests).
  static std::size_t pooled_on_this_thread();

 private:
  std::unique_ptr<SessionScratch> scratch_;
};

}  // namespace cloudmeta::http_server
