// Background work yields to the metadata surface.
//
// The admin surface (API, page, signals, systemd notifications) and snapshot rebuilds share the
// host's cores with the metadata threads. An admin write costs ~0.6 ms of CPU; at normal
// priority the woken admin thread preempts a metadata thread for that long, and a stream of
// 100 writes/s doubled the reads' p99 on a shared core (docs/benchmarks.md, "Writes don't hurt
// reads"). At SCHED_IDLE a metadata thread that wakes always preempts it, at once.
//
// The price, and why it is opt-in (ADMIN_SCHED_IDLE=1): SCHED_IDLE yields to every busy thread on
// the host, not only ours. Next to busy VMs, or a parallel test run, the admin thread gets an idle
// task's share (a weight of 3 against 1,024): an Argon2id password check then took longer than a
// client's 10 s timeout. It suits a host whose cores are not otherwise saturated.
#pragma once

namespace cloudmeta {

// Moves the calling thread (only it: Linux applies the policy per thread, and threads it creates
// afterwards inherit it) to SCHED_IDLE. Lowering one's own priority needs no privilege; on
// failure it logs a warning and the thread keeps its policy. Returns whether it took effect.
bool yield_to_metadata_threads();

}  // namespace cloudmeta
