#include "server/storage/file_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace ft::server {

int lock_whole_file(int fd) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;  // to the end, however far the file grows
  lock.l_pid = 0;  // required by F_OFD_*
  if (::fcntl(fd, F_OFD_SETLK, &lock) == 0) return 0;
  // POSIX allows either for "held by someone else".
  return errno == EACCES || errno == EAGAIN ? EWOULDBLOCK : errno;
}

int open_locked(int dir, const std::string& name, bool create, Fd& file) {
  // Each round loses only to a cleaner that removed the name in between;
  // three in a row means something keeps removing it.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int flags =
        O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (create ? O_CREAT : 0);
    const int fd = ::openat(dir, name.c_str(), flags, 0600);
    if (fd < 0) return errno;
    file.reset(fd);
    if (int err = lock_whole_file(fd)) {
      file.reset();
      return err;
    }
    struct stat held;
    struct stat named;
    if (::fstat(fd, &held) != 0) return errno;
    const int named_err =
        ::fstatat(dir, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
    if (named_err == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino) {
      // O_NONBLOCK served the open (a FIFO planted under the name does not
      // hang a worker); the file's own I/O blocks as usual.
      if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) return errno;
      return 0;
    }
    file.reset();
    if (!create && named_err == ENOENT) return ENOENT;
  }
  // Not EAGAIN: that is EWOULDBLOCK on Linux, "held elsewhere".
  return ESTALE;
}

}  // namespace ft::server
