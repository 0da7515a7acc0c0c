#include "common/os/fd.hpp"

#include <unistd.h>

#include <cerrno>

namespace ft {

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

int Fd::close() {
  if (fd_ < 0) return 0;
  int result = ::close(release());
  return result == 0 ? 0 : errno;
}

}  // namespace ft
