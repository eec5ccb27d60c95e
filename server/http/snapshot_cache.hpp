// Each metadata thread's cached snapshot: a request reads the thread's copy of the holder's
// pointer (one plain load) instead of the shared reference count's atomic read-modify-writes,
// contended across threads. The cache is reloaded when the holder's generation moves, on the
// thread's next request or, through refresh_caches_on_publish, at once: a thread left idle would
// otherwise keep a superseded snapshot, after a full reload a whole generation of the fleet's
// rows, alive until its next request (docs/benchmarks.md, "Idle threads").
#pragma once

#include <memory>
#include <vector>

#include "cloudmeta/asio.hpp"
#include "cloudmeta/snapshot.hpp"

namespace cloudmeta::http_server {

// The holder's current snapshot, as this thread last loaded it. The reference stays valid until
// this thread's next call: use it only before a co_await.
const std::shared_ptr<const Snapshot>& current_snapshot(const SnapshotHolder& holder);

// Has every publish to `holder` post a reload of the cache to each of `threads` (each metadata
// io_context's executor): after its posted handler has run, a thread holds the snapshot that
// was current then, never an older one. Costs a post per thread per publish, nothing per
// request. Call once, before the threads serve.
void refresh_caches_on_publish(SnapshotHolder& holder, std::vector<net::any_io_executor> threads);

}  // namespace cloudmeta::http_server
