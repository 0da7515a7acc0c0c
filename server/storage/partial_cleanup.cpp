#include "server/storage/partial_cleanup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "common/os/fd.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {
namespace {

bool is_partial(std::string_view name) {
  return name.rfind(".ft-part-", 0) == 0;
}
bool is_temporary(std::string_view name) {
  return name.rfind(".ft-tmp-", 0) == 0;
}

// One directory on the path from the root down to the one being walked.
// Any of them may be the root of an identity whose uploads named a partial
// file relative to it.
struct Level {
  std::string name;    // its name in the directory above ("" for the root)
  std::size_t prefix;  // length of its path below the root, with its '/'
  Fd fd;               // closed while too many others are open
  dev_t device = 0;    // recognises it when it is opened again
  ino_t inode = 0;
  std::string identity;                     // "<dev>:<inode>", when uploads run
  std::vector<std::string> subdirectories;  // still to walk
};

// The walk holds one level per directory on the current path, however deep
// the tree: memory grows with the depth, descriptors do not. The directories
// are opened one component at a time from the one above without following a
// link, never by a path from the root, so no path grows past PATH_MAX.
class Walk {
 public:
  Walk(int root, std::time_t cutoff, const std::unordered_set<std::string>& in_use,
       TemporaryFiles temporary, SpaceLedger* ledger)
      : root_(root), cutoff_(cutoff), in_use_(in_use), temporary_(temporary), ledger_(ledger) {}

  CleanupStats run() {
    Fd top;
    if (open_beneath(root_, "", O_DIRECTORY | O_RDONLY, top) != 0 ||
        !enter("", 0, std::move(top))) {
      ++stats_.errors;
      return stats_;
    }
    while (!levels_.empty()) {
      Level& here = levels_.back();
      if (here.subdirectories.empty()) {
        on_path_.erase({here.device, here.inode});
        levels_.pop_back();
        continue;
      }
      std::string name = std::move(here.subdirectories.back());
      here.subdirectories.pop_back();
      const std::size_t prefix = here.prefix + name.size() + 1;
      const int parent = reopen(levels_.size() - 1);
      Fd child;
      if (parent < 0 ||
          open_beneath_without_links(parent, name, O_DIRECTORY | O_RDONLY, child) != 0 ||
          !enter(std::move(name), prefix, std::move(child))) {
        ++stats_.errors;
      }
    }
    return stats_;
  }

 private:
  // Pushes the directory `fd` as the deepest level and deals with its
  // files. False if it cannot be read. A directory that is already on the
  // path (a bind mount of an ancestor) is skipped: the walk must end.
  bool enter(std::string name, std::size_t prefix, Fd fd) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return false;
    if (!on_path_.insert({st.st_dev, st.st_ino}).second) return true;
    Level level{std::move(name), prefix, std::move(fd), st.st_dev, st.st_ino, {}, {}};
    if (!in_use_.empty() && directory_identity(level.fd.get(), level.identity) != 0) {
      level.identity.clear();
    }
    levels_.push_back(std::move(level));
    const bool read = scan(levels_.back());
    close_shallowest();
    return read;
  }

  // Reads a directory once: its subdirectories are remembered, its stale
  // partial and temporary files removed.
  bool scan(Level& level) {
    // readdir needs a descriptor of its own: the level's stays usable.
    const int copy = ::openat(level.fd.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    DIR* stream = copy < 0 ? nullptr : ::fdopendir(copy);
    if (stream == nullptr) {
      if (copy >= 0) ::close(copy);
      return false;
    }
    const int fd = level.fd.get();
    while (struct dirent* entry = ::readdir(stream)) {
      std::string_view name(entry->d_name);
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        level.subdirectories.emplace_back(name);
        continue;
      }
      // A SYMLINK request also makes its link under a temporary name; the
      // start-up pass removes such a link too (unlinkat never follows it).
      const bool startup = temporary_ == TemporaryFiles::kAll;
      if (!S_ISREG(st.st_mode) && !(startup && S_ISLNK(st.st_mode))) continue;
      const bool stale = st.st_mtime < cutoff_;
      const bool leftover = (S_ISREG(st.st_mode) && is_partial(name) && stale) ||
                            (is_temporary(name) && (stale || startup));
      if (leftover && !held(name)) {
        if (::unlinkat(fd, entry->d_name, 0) == 0) {
          ++stats_.removed;
          // What a kept partial file still lacked is no longer promised.
          if (ledger_ != nullptr) ledger_->forget_kept(FileId{st.st_dev, st.st_ino});
        } else {
          ++stats_.errors;
        }
      }
    }
    ::closedir(stream);
    return true;
  }

  // Whether the file `name` of the deepest level is a partial file an upload
  // holds: its key is the device:inode of the uploader's root, '/', and the
  // path below it (Server::claim_partial).
  bool held(std::string_view name) const {
    if (in_use_.empty()) return false;
    std::string path;
    for (std::size_t i = 1; i < levels_.size(); ++i) path += levels_[i].name + "/";
    path += name;
    for (const Level& level : levels_) {
      if (!level.identity.empty() &&
          in_use_.count(level.identity + "/" + path.substr(level.prefix)) != 0) {
        return true;
      }
    }
    return false;
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
  // from the deepest open level above it (or the root), one component at a
  // time without following links, each directory checked to be the one
  // walked before. -1 if it is gone or was replaced meanwhile.
  int reopen(std::size_t index) {
    if (levels_[index].fd) return levels_[index].fd.get();
    std::size_t from = index;
    while (from > 0 && !levels_[from - 1].fd) --from;
    Fd current;
    if (from == 0) {
      if (open_beneath(root_, "", O_DIRECTORY | O_RDONLY, current) != 0 || !same(current, 0)) {
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

  const int root_;
  const std::time_t cutoff_;
  const std::unordered_set<std::string>& in_use_;
  const TemporaryFiles temporary_;
  SpaceLedger* const ledger_;
  std::vector<Level> levels_;
  std::set<std::pair<dev_t, ino_t>> on_path_;
  CleanupStats stats_;
};

}  // namespace

CleanupStats remove_stale_partials(int root, std::chrono::seconds ttl,
                                   const std::unordered_set<std::string>& in_use,
                                   TemporaryFiles temporary, SpaceLedger* ledger) {
  const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(ttl.count());
  return Walk(root, cutoff, in_use, temporary, ledger).run();
}

}  // namespace ft::server
