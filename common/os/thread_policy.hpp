#pragma once
// Scheduling policy of helper threads that do bulk work for another thread.

namespace ft {

/// Puts the calling thread under SCHED_BATCH (Linux): the scheduler still
/// shares the CPU fairly with it, but a wakeup of this thread no longer
/// preempts the thread that woke it. Meant for a helper that the busy
/// thread feeds a piece of work at a time (ftget's writer): it then runs on
/// a free core, or once the feeding thread waits, instead of taking the
/// feeder's core at every hand-off. Returns false where the policy is not
/// available (the thread then keeps the normal one, which is only slower).
bool run_as_batch_thread() noexcept;

}  // namespace ft
