// The libuv helpers report a job that threw through the reporter the server
// sets (its log), not silently and not past libuv; a job runs on a batch
// thread (it must not take the loop's core when woken).
#include "uvx/uv_support.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <uv.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft::server {
namespace {

std::mutex g_mutex;
std::vector<std::string> g_reports;

void capture(const char* message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_reports.emplace_back(message);
}

TEST(ErrorReporter, AJobThatThrowsIsReported) {
  g_reports.clear();
  set_error_reporter(capture);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  bool done = false;
  queue_job(
      &loop, [] { throw std::runtime_error("disk on fire"); }, [&done] { done = true; });
  queue_job(
      &loop, [] {}, [] { throw std::runtime_error("completion broke"); });
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
  set_error_reporter(nullptr);  // back to stderr
  EXPECT_TRUE(done);
  std::lock_guard<std::mutex> lock(g_mutex);
  // The two jobs run on two pool threads: in either order.
  std::sort(g_reports.begin(), g_reports.end());
  EXPECT_EQ(g_reports, (std::vector<std::string>{"job completion failed: completion broke",
                                                 "worker job failed: disk on fire"}));
}

TEST(PoolJobs, RunOnBatchThreadsAndCompleteOnTheLoopThread) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  const int loop_policy = ::sched_getscheduler(0);  // the loop runs on this thread
  int job_policy = -1, completion_policy = -1;
  queue_job(
      &loop, [&job_policy] { job_policy = ::sched_getscheduler(0); },
      [&completion_policy] { completion_policy = ::sched_getscheduler(0); });
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
  EXPECT_EQ(job_policy, SCHED_BATCH);
  EXPECT_EQ(completion_policy, loop_policy);  // the loop's thread keeps its policy
}

}  // namespace
}  // namespace ft::server
