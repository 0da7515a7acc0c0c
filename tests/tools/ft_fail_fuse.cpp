// ft_fail_fuse: a FUSE passthrough of a backing directory whose fsync (and
// fsyncdir) can be told to fail with EIO, for the durability tests: on such
// a file system syncfs reports nothing, so only a per-file fsync lets
// ftserve see the error.
//   usage: ft_fail_fuse [--fail-fsync] [--log FILE] BACKING MOUNTPOINT
// It mounts, then detaches (libfuse's daemon mode): when the command
// returns 0 the file system is mounted. `umount MOUNTPOINT` ends it. With
// --log, every fsync and fsyncdir that reaches it appends one line
// ("fsync PATH = RESULT") to FILE.
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int backing_fd = -1;
bool fail_fsync = false;
std::string log_path;

// FUSE paths start with '/'; the backing directory's descriptor resolves
// them relative to itself.
std::string relative(const char* path) {
  while (*path == '/') ++path;
  return *path == '\0' ? std::string(".") : std::string(path);
}

int result(int rc) {
  return rc < 0 ? -errno : rc;
}

void log_sync(const char* what, const char* path, int rc) {
  if (log_path.empty()) return;
  if (FILE* out = std::fopen(log_path.c_str(), "a")) {
    std::fprintf(out, "%s %s = %d\n", what, path, rc);
    std::fclose(out);
  }
}

int do_getattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  if (fi != nullptr) return result(::fstat(static_cast<int>(fi->fh), st));
  return result(::fstatat(backing_fd, relative(path).c_str(), st, AT_SYMLINK_NOFOLLOW));
}

int do_readlink(const char* path, char* buffer, size_t size) {
  ssize_t n = ::readlinkat(backing_fd, relative(path).c_str(), buffer, size - 1);
  if (n < 0) return -errno;
  buffer[n] = '\0';
  return 0;
}

int do_mkdir(const char* path, mode_t mode) {
  return result(::mkdirat(backing_fd, relative(path).c_str(), mode));
}

int do_unlink(const char* path) {
  return result(::unlinkat(backing_fd, relative(path).c_str(), 0));
}

int do_rmdir(const char* path) {
  return result(::unlinkat(backing_fd, relative(path).c_str(), AT_REMOVEDIR));
}

int do_symlink(const char* target, const char* path) {
  return result(::symlinkat(target, backing_fd, relative(path).c_str()));
}

int do_rename(const char* from, const char* to, unsigned int flags) {
  return result(
      ::renameat2(backing_fd, relative(from).c_str(), backing_fd, relative(to).c_str(), flags));
}

int do_link(const char* from, const char* to) {
  return result(::linkat(backing_fd, relative(from).c_str(), backing_fd, relative(to).c_str(), 0));
}

int do_chmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  if (fi != nullptr) return result(::fchmod(static_cast<int>(fi->fh), mode));
  return result(::fchmodat(backing_fd, relative(path).c_str(), mode, 0));
}

int do_truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  if (fi != nullptr) return result(::ftruncate(static_cast<int>(fi->fh), size));
  int fd = ::openat(backing_fd, relative(path).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = result(::ftruncate(fd, size));
  ::close(fd);
  return rc;
}

int do_utimens(const char* path, const struct timespec times[2], struct fuse_file_info* fi) {
  if (fi != nullptr) return result(::futimens(static_cast<int>(fi->fh), times));
  return result(::utimensat(backing_fd, relative(path).c_str(), times, AT_SYMLINK_NOFOLLOW));
}

int do_open(const char* path, struct fuse_file_info* fi) {
  int fd = ::openat(backing_fd, relative(path).c_str(), fi->flags & ~O_NOFOLLOW);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int do_create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  int fd = ::openat(backing_fd, relative(path).c_str(), fi->flags | O_CREAT, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int do_read(const char*, char* buffer, size_t size, off_t offset, struct fuse_file_info* fi) {
  ssize_t n = ::pread(static_cast<int>(fi->fh), buffer, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int do_write(const char*, const char* buffer, size_t size, off_t offset,
             struct fuse_file_info* fi) {
  ssize_t n = ::pwrite(static_cast<int>(fi->fh), buffer, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int do_statfs(const char*, struct statvfs* out) {
  return result(::fstatvfs(backing_fd, out));
}

int do_release(const char*, struct fuse_file_info* fi) {
  ::close(static_cast<int>(fi->fh));
  return 0;
}

int do_fsync(const char* path, int, struct fuse_file_info* fi) {
  int rc = fail_fsync ? -EIO : result(::fsync(static_cast<int>(fi->fh)));
  log_sync("fsync", path, rc);
  return rc;
}

int do_fsyncdir(const char* path, int, struct fuse_file_info*) {
  int rc = fail_fsync ? -EIO : 0;
  log_sync("fsyncdir", path, rc);
  return rc;
}

int do_readdir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
               enum fuse_readdir_flags) {
  int fd = ::openat(backing_fd, relative(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return -errno;
  }
  while (struct dirent* entry = ::readdir(dir)) {
    if (fill(buffer, entry->d_name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  ::closedir(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--fail-fsync") {
      fail_fsync = true;
    } else if (arg == "--log" && i + 1 < argc) {
      log_path = argv[++i];
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "usage: ft_fail_fuse [--fail-fsync] [--log FILE] BACKING MOUNTPOINT\n");
    return 2;
  }
  backing_fd = ::open(positional[0].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (backing_fd < 0) {
    std::fprintf(stderr, "ft_fail_fuse: %s: %s\n", positional[0].c_str(), std::strerror(errno));
    return 1;
  }
  // The daemon changes its directory to "/": the log path must not be relative.
  if (!log_path.empty() && log_path.front() != '/') {
    std::fprintf(stderr, "ft_fail_fuse: --log needs an absolute path\n");
    return 2;
  }
  struct fuse_operations ops {};
  ops.getattr = do_getattr;
  ops.readlink = do_readlink;
  ops.mkdir = do_mkdir;
  ops.unlink = do_unlink;
  ops.rmdir = do_rmdir;
  ops.symlink = do_symlink;
  ops.rename = do_rename;
  ops.link = do_link;
  ops.chmod = do_chmod;
  ops.truncate = do_truncate;
  ops.utimens = do_utimens;
  ops.open = do_open;
  ops.create = do_create;
  ops.read = do_read;
  ops.write = do_write;
  ops.statfs = do_statfs;
  ops.release = do_release;
  ops.fsync = do_fsync;
  ops.fsyncdir = do_fsyncdir;
  ops.readdir = do_readdir;
  // Single-threaded: the tests need no speed, and the log stays in order.
  std::vector<std::string> fuse_args = {argv[0], "-s", "-o", "fsname=ft_fail_fuse", positional[1]};
  std::vector<char*> raw;
  for (std::string& arg : fuse_args) raw.push_back(arg.data());
  return fuse_main(static_cast<int>(raw.size()), raw.data(), &ops, nullptr);
}
