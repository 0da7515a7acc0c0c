// The libuv helpers report a job that threw through the reporter the server
// sets (its log), not silently and not past libuv.
#include "uvx/uv_support.hpp"

#include <gtest/gtest.h>
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

}  // namespace
}  // namespace ft::server
