#include "common/os/thread_policy.hpp"

#include <pthread.h>
#include <sched.h>

namespace ft {

bool run_as_batch_thread() noexcept {
#ifdef SCHED_BATCH
  // SCHED_BATCH takes priority 0 and needs no privilege.
  sched_param param{};
  return ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &param) == 0;
#else
  return false;
#endif
}

}  // namespace ft
