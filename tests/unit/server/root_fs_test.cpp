// root_fs's bounded retry of opens (issue 10): EINTR is always tried again,
// EAGAIN (a rename racing openat2's lookup) at most kMaxOpenRetries times,
// after which the open fails with EAGAIN instead of spinning for ever.
#include "server/storage/root_fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

namespace ft::server {
namespace {

// An attempt that fails `failures` times with `err`, then opens /dev/null.
struct ScriptedOpen {
  int failures;
  int err;
  int calls = 0;
  long operator()() {
    ++calls;
    if (calls <= failures) {
      errno = err;
      return -1;
    }
    return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
};

TEST(RetryOpen, SucceedsAtOnce) {
  ScriptedOpen open{0, 0};
  Fd fd;
  EXPECT_EQ(retry_open(std::ref(open), fd), 0);
  EXPECT_TRUE(fd);
  EXPECT_EQ(open.calls, 1);
}

TEST(RetryOpen, RetriesEagainWithinTheBound) {
  ScriptedOpen open{kMaxOpenRetries, EAGAIN};
  Fd fd;
  EXPECT_EQ(retry_open(std::ref(open), fd), 0);
  EXPECT_TRUE(fd);
  EXPECT_EQ(open.calls, kMaxOpenRetries + 1);
}

TEST(RetryOpen, GivesUpWithEagainWhenTheRetriesRunOut) {
  ScriptedOpen open{1'000'000, EAGAIN};
  Fd fd;
  EXPECT_EQ(retry_open(std::ref(open), fd), EAGAIN);
  EXPECT_FALSE(fd);
  EXPECT_EQ(open.calls, kMaxOpenRetries + 1);
}

TEST(RetryOpen, EintrIsNotCountedAgainstTheBound) {
  ScriptedOpen open{3 * kMaxOpenRetries, EINTR};
  Fd fd;
  EXPECT_EQ(retry_open(std::ref(open), fd), 0);
  EXPECT_EQ(open.calls, 3 * kMaxOpenRetries + 1);
}

TEST(RetryOpen, OtherErrorsAreReturnedAtOnce) {
  ScriptedOpen open{5, ENOENT};
  Fd fd;
  EXPECT_EQ(retry_open(std::ref(open), fd), ENOENT);
  EXPECT_EQ(open.calls, 1);
}

TEST(RetryOpen, OpenBeneathUsesIt) {
  Fd root(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(root);
  Fd fd;
  EXPECT_EQ(open_beneath(root.get(), "dev/null", O_RDONLY, fd), 0);
  EXPECT_TRUE(fd);
  Fd none;
  EXPECT_EQ(open_beneath(root.get(), "../etc", O_RDONLY, none), EXDEV);
}

}  // namespace
}  // namespace ft::server
