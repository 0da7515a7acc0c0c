#include "server/storage/tree_walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <utility>
#include <vector>

#include "common/os/fd.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {
namespace {

// One directory on the path from the start down to the one being walked.
struct Level {
  std::string name;  // its name in the directory above ("" for the start)
  Fd fd;             // closed while too many others are open
  dev_t device = 0;  // recognises it when it is opened again
  ino_t inode = 0;
  std::vector<std::string> subdirectories;  // still to walk
};

// The walk holds one level per directory on the current path, however deep
// the tree: memory grows with the depth, descriptors do not. Directories
// are opened one component at a time from the one above without following
// a link, never by a path from the start.
class Walk {
 public:
  Walk(int start, TreeVisitor& visitor) : start_(start), visitor_(visitor) {}

  TreeWalkResult run() {
    Fd top;
    if (int err = open_beneath(start_, "", O_DIRECTORY | O_RDONLY, top)) {
      failed(err);
      return result_;
    }
    enter("", std::move(top));
    while (!levels_.empty()) {
      Level& here = levels_.back();
      if (here.subdirectories.empty()) {
        on_path_.erase({here.device, here.inode});
        levels_.pop_back();
        visitor_.left(levels_.size());
        continue;
      }
      std::string name = std::move(here.subdirectories.back());
      here.subdirectories.pop_back();
      const int parent = reopen(levels_.size() - 1);
      Fd child;
      if (parent < 0) {
        failed(ENOENT);
      } else if (int err =
                     open_beneath_without_links(parent, name, O_DIRECTORY | O_RDONLY, child)) {
        failed(err);
      } else {
        enter(std::move(name), std::move(child));
      }
    }
    return result_;
  }

 private:
  void failed(int err) {
    if (result_.errors++ == 0) result_.first_error = err;
  }

  // Pushes the directory `fd` as the deepest level and reads it. A
  // directory that is already on the path (a bind mount of an ancestor)
  // is skipped: the walk must end.
  void enter(std::string name, Fd fd) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return failed(errno);
    if (!on_path_.insert({st.st_dev, st.st_ino}).second) return;
    levels_.push_back(Level{std::move(name), std::move(fd), st.st_dev, st.st_ino, {}});
    Level& level = levels_.back();
    visitor_.entered(level.fd.get(), level.name, levels_.size() - 1);
    if (int err = scan(level)) failed(err);
    close_shallowest();
  }

  // Reads a directory once: its subdirectories are remembered, every other
  // entry goes to the visitor. 0 or an errno value.
  int scan(Level& level) {
    // readdir needs a descriptor of its own: the level's stays usable.
    const int copy = ::openat(level.fd.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    DIR* stream = copy < 0 ? nullptr : ::fdopendir(copy);
    if (stream == nullptr) {
      const int err = errno;
      if (copy >= 0) ::close(copy);
      return err;
    }
    const int fd = level.fd.get();
    while (struct dirent* entry = ::readdir(stream)) {
      const std::string_view name(entry->d_name);
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        level.subdirectories.emplace_back(name);
      } else {
        visitor_.file(fd, entry->d_name, st);
      }
    }
    ::closedir(stream);
    return 0;
  }

  // Keeps at most kMaxOpenDirectories levels open: the deepest, which the
  // walk is about to use again.
  void close_shallowest() {
    std::size_t open = 0;
    for (const Level& level : levels_) open += level.fd ? 1 : 0;
    for (Level& level : levels_) {
      if (open <= kMaxOpenDirectories) break;
      if (level.fd) {
        level.fd.reset();
        --open;
      }
    }
  }

  // The descriptor of level `index`, opened again if it was closed: down
  // from the deepest open level above it (or the start), one component at
  // a time without following links, each directory checked to be the one
  // walked before. -1 if it is gone or was replaced meanwhile.
  int reopen(std::size_t index) {
    if (levels_[index].fd) return levels_[index].fd.get();
    std::size_t from = index;
    while (from > 0 && !levels_[from - 1].fd) --from;
    Fd current;
    if (from == 0) {
      if (open_beneath(start_, "", O_DIRECTORY | O_RDONLY, current) != 0 || !same(current, 0)) {
        return -1;
      }
      ++from;
    }
    for (std::size_t k = from; k <= index; ++k) {
      const int above = current ? current.get() : levels_[k - 1].fd.get();
      Fd next;
      if (open_beneath_without_links(above, levels_[k].name, O_DIRECTORY | O_RDONLY, next) != 0 ||
          !same(next, k)) {
        return -1;
      }
      current = std::move(next);
    }
    levels_[index].fd = std::move(current);
    close_shallowest();
    return levels_[index].fd ? levels_[index].fd.get() : -1;
  }

  bool same(const Fd& fd, std::size_t index) const {
    struct stat st;
    return ::fstat(fd.get(), &st) == 0 && st.st_dev == levels_[index].device &&
           st.st_ino == levels_[index].inode;
  }

  const int start_;
  TreeVisitor& visitor_;
  std::vector<Level> levels_;
  std::set<std::pair<dev_t, ino_t>> on_path_;
  TreeWalkResult result_;
};

}  // namespace

TreeWalkResult walk_tree(int start, TreeVisitor& visitor) {
  return Walk(start, visitor).run();
}

}  // namespace ft::server
