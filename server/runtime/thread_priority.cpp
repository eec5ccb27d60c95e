#include "runtime/thread_priority.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstring>

#include "cloudmeta/log.hpp"

namespace cloudmeta {

bool yield_to_metadata_threads() {
  const sched_param param{};  // SCHED_IDLE takes priority 0
  const int error = ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &param);
  if (error != 0) {
    log_warn("sched_idle_failed", {{"error", std::strerror(error)}});
    return false;
  }
  return true;
}

}  // namespace cloudmeta
