// run_as_batch_thread(): the calling thread, and only it, runs under
// SCHED_BATCH afterwards.
#include "common/os/thread_policy.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace ft {
namespace {

TEST(ThreadPolicy, TheCallingThreadOnlyBecomesABatchThread) {
  const int own_policy = ::sched_getscheduler(0);  // 0: the calling thread
  bool changed = false;
  int policy_inside = -1;
  std::thread helper([&] {
    changed = run_as_batch_thread();
    policy_inside = ::sched_getscheduler(0);
  });
  helper.join();
  EXPECT_TRUE(changed);
  EXPECT_EQ(policy_inside, SCHED_BATCH);
  EXPECT_EQ(::sched_getscheduler(0), own_policy);  // this thread is left alone
}

}  // namespace
}  // namespace ft
