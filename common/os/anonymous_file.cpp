#include "common/os/anonymous_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ft {
namespace {

// Whether /proc/self/fd can name a descriptor: not in a chroot or a
// sandbox without /proc. Asked once.
bool proc_names_descriptors() {
  static const bool usable = ::access("/proc/self/fd", X_OK) == 0;
  return usable;
}

// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH before Linux 6.10 (a
// service user gets ENOENT; since 6.10 the file's opener may); it spares
// the lookup of a /proc path, about a quarter of what a link costs.
// Learned at the first link. FT_TEST_LINK_THROUGH_PROC=1 starts with the
// /proc path, so that tests on a newer kernel cover it too.
std::atomic<bool> empty_path_refused{[] {
  const char* forced = std::getenv("FT_TEST_LINK_THROUGH_PROC");
  return forced != nullptr && std::string_view(forced) == "1";
}()};

}  // namespace

int create_anonymous_file(int dir, mode_t mode, Fd& file_out) {
  if (!proc_names_descriptors()) return EOPNOTSUPP;
  const int fd = ::openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
  if (fd >= 0) {
    file_out.reset(fd);
    return 0;
  }
  // Kernels and file systems without O_TMPFILE say so in these ways (a
  // kernel that does not know the flag sees O_DIRECTORY and O_RDWR).
  if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return EOPNOTSUPP;
  return errno;
}

int link_anonymous_file(int file, int dir, const std::string& name) {
  if (!empty_path_refused.load(std::memory_order_relaxed)) {
    if (::linkat(file, "", dir, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT && errno != EPERM) return errno;
    empty_path_refused.store(true, std::memory_order_relaxed);
  }
  char path[48];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", file);
  return ::linkat(AT_FDCWD, path, dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
}

}  // namespace ft
