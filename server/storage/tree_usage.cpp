#include "server/storage/tree_usage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/os/fd.hpp"

namespace ft::server {
namespace {

// One directory on the way down: its descriptor and the subdirectories
// still to visit. Only the directories on the current path are open, so a
// wide tree costs no more descriptors than a narrow one.
struct Level {
  Fd fd;
  std::vector<std::string> subdirectories;
};

// Counts the regular files of `level` and remembers its subdirectories;
// 0 or errno.
int scan(Level& level, TreeUsage& out) {
  // readdir takes a descriptor of its own; the level's stays usable.
  const int copy = ::dup(level.fd.get());
  DIR* stream = copy < 0 ? nullptr : ::fdopendir(copy);
  if (stream == nullptr) {
    const int err = errno;
    if (copy >= 0) ::close(copy);
    return err;
  }
  while (struct dirent* entry = ::readdir(stream)) {
    const std::string name(entry->d_name);
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(level.fd.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      out.bytes += static_cast<std::uint64_t>(st.st_size);
      out.files += 1;
    } else if (S_ISDIR(st.st_mode)) {
      level.subdirectories.push_back(name);
    }
  }
  ::closedir(stream);
  return 0;
}

}  // namespace

int measure_tree(int dir, TreeUsage& out) {
  int first_error = 0;
  std::set<std::pair<dev_t, ino_t>> seen;  // a directory is read once
  std::vector<Level> path;
  auto enter = [&](int fd) {
    Level level{Fd(fd), {}};
    struct stat st;
    if (::fstat(fd, &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) return;
    if (int err = scan(level, out); err != 0 && first_error == 0) first_error = err;
    path.push_back(std::move(level));
  };
  const int start = ::openat(dir, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (start < 0) return errno;
  enter(start);
  while (!path.empty()) {
    Level& top = path.back();
    if (top.subdirectories.empty()) {
      path.pop_back();
      continue;
    }
    const std::string name = std::move(top.subdirectories.back());
    top.subdirectories.pop_back();
    const int child =
        ::openat(top.fd.get(), name.c_str(), O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      if (first_error == 0) first_error = errno;
      continue;
    }
    enter(child);
  }
  return first_error;
}

}  // namespace ft::server
