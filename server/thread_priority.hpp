// Background work yields to the metadata surface.
//
// The admin surface (API, page, signals, systemd notifications) and snapshot rebuilds share the
// host's cores with the metadata threads. An admin write costs ~0.6 ms of CPU; at normal
// priority the woken admin thread preempts a metadata thread for that long, and a stream of
// 100 writes/s doubled the reads' p99 on a shared core (docs/benchmarks.md, "Writes don't hurt
// reads"). At SCHED_IDLE a metadata thread that wakes always preempts it, at once.
//
// The price: while metadata requests keep every core busy, background threads get what an idle
// policy gets (a weight of 3 against 1,024): admin writes and rebuilds slow down, they do not
// stop. ADMIN_SCHED_IDLE=0 keeps the normal policy.
#pragma once

namespace cloudmeta {

// Moves the calling thread (only it: Linux applies the policy per thread, and threads it creates
// afterwards inherit it) to SCHED_IDLE. Lowering one's own priority needs no privilege; on
// failure it logs a warning and the thread keeps its policy. Returns whether it took effect.
bool yield_to_metadata_threads();

}  // namespace cloudmeta
