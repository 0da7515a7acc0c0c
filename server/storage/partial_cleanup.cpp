#include "server/storage/partial_cleanup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <memory>
#include <string_view>
#include <vector>

#include "server/storage/root_fs.hpp"

namespace ft::server {
namespace {

constexpr std::size_t kMaxDepth = 256;

bool is_partial(std::string_view name) {
  return name.rfind(".ft-part-", 0) == 0;
}
bool is_temporary(std::string_view name) {
  return name.rfind(".ft-tmp-", 0) == 0;
}

// A directory on the way down from the root: any of them may be the root of
// an identity whose uploads named a partial file relative to it.
struct Ancestor {
  std::string identity;    // "<dev>:<inode>"
  std::size_t prefix = 0;  // length of its path below the root, with '/'
  std::shared_ptr<const Ancestor> up;
};

// Whether `path` (below the root) is a partial file an upload holds: its key
// is the device:inode of the uploader's root, '/', and the path below it.
bool held(const std::unordered_set<std::string>& in_use, const Ancestor* chain,
          const std::string& path) {
  for (; chain != nullptr; chain = chain->up.get()) {
    if (in_use.count(chain->identity + "/" + path.substr(chain->prefix)) != 0) return true;
  }
  return false;
}

}  // namespace

CleanupStats remove_stale_partials(int root, std::chrono::seconds ttl,
                                   const std::unordered_set<std::string>& in_use,
                                   TemporaryFiles temporary) {
  CleanupStats stats;
  const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(ttl.count());
  struct Pending {
    std::string path;  // below the root, "" or ending in '/'
    std::size_t depth;
    std::shared_ptr<const Ancestor> above;  // the directories above it
  };
  std::vector<Pending> stack{{"", 0, nullptr}};
  while (!stack.empty()) {
    Pending here = std::move(stack.back());
    stack.pop_back();
    Fd dir;
    std::string relative = here.path.empty() ? "" : here.path.substr(0, here.path.size() - 1);
    if (open_beneath(root, relative, O_DIRECTORY | O_RDONLY | O_NOFOLLOW, dir) != 0) {
      ++stats.errors;
      continue;
    }
    DIR* stream = ::fdopendir(dir.get());
    if (stream == nullptr) {
      ++stats.errors;
      continue;
    }
    std::shared_ptr<const Ancestor> chain = here.above;
    if (!in_use.empty()) {
      std::string identity;
      if (directory_identity(dir.get(), identity) == 0) {
        chain = std::make_shared<const Ancestor>(
            Ancestor{std::move(identity), here.path.size(), here.above});
      }
    }
    const int fd = dir.release();
    while (struct dirent* entry = ::readdir(stream)) {
      std::string_view name(entry->d_name);
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (here.depth + 1 < kMaxDepth) {
          stack.push_back({here.path + std::string(name) + "/", here.depth + 1, chain});
        }
        continue;
      }
      // A SYMLINK request also makes its link under a temporary name; the
      // start-up pass removes such a link too (unlinkat never follows it).
      const bool startup = temporary == TemporaryFiles::kAll;
      if (!S_ISREG(st.st_mode) && !(startup && S_ISLNK(st.st_mode))) continue;
      const bool stale = st.st_mtime < cutoff;
      const bool leftover = (S_ISREG(st.st_mode) && is_partial(name) && stale) ||
                            (is_temporary(name) && (stale || startup));
      if (leftover && !held(in_use, chain.get(), here.path + std::string(name))) {
        if (::unlinkat(fd, entry->d_name, 0) == 0) {
          ++stats.removed;
        } else {
          ++stats.errors;
        }
      }
    }
    ::closedir(stream);
  }
  return stats;
}

}  // namespace ft::server
