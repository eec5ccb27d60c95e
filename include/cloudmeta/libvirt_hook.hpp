// `cloudmeta libvirt-hook GUEST OPERATION SUB-OPERATION EXTRA`: libvirt's qemu hook (called as
// /etc/libvirt/hooks/qemu with the domain XML on standard input) registering the guest's
// instance record with the local server's admin API on `prepare` and `start`, and stopping or
// deleting it on `release` (docs/hypervisor.md, "Registering VMs from libvirt"). Other operations
// do nothing. Not thread-safe (a command's one run).
#pragma once

#include <istream>
#include <ostream>
#include <string>

#include "cloudmeta/config.hpp"
#include "cloudmeta/libvirt_hook_config.hpp"

namespace cloudmeta {

struct LibvirtHookCall {
  std::string guest;
  std::string operation;      // prepare, start, started, stopped, release, migrate, ...
  std::string sub_operation;  // begin, end, -
  std::string extra;
};

// The exit status for libvirt: 0 done (or nothing to do, or a server failure ignored under
// LIBVIRT_HOOK_ON_ERROR=ignore); 1 refused (bad XML, a value the record rules or the server
// refuse: nothing was written) or the server down or failing under LIBVIRT_HOOK_ON_ERROR=fail;
// 2 the hook's own settings (the token file). One line on `err` says what happened.
int run_libvirt_hook(const LibvirtHookCall& call, const Config& config,
                     const LibvirtHookConfig& hook, std::istream& in, std::ostream& err);

}  // namespace cloudmeta
