#include "server/storage/partial_cleanup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <string_view>
#include <utility>
#include <vector>

#include "server/storage/file_lock.hpp"
#include "server/storage/partial_record.hpp"
#include "server/storage/root_fs.hpp"
#include "server/storage/tree_walk.hpp"

namespace ft::server {
namespace {

bool is_temporary(std::string_view name) {
  return name.rfind(".ft-tmp-", 0) == 0;
}

// One directory on the path from the root down to the one being walked.
// Any of them may be the root of an identity whose uploads named a partial
// file relative to it.
struct Level {
  std::string name;      // its name in the directory above ("" for the root)
  std::size_t prefix;    // length of its path below the root, with its '/'
  std::string identity;  // "<dev>:<inode>", when uploads run
};

// Removes what is stale as the shared walk (tree_walk.hpp) shows each file.
class Cleaner final : public TreeVisitor {
 public:
  Cleaner(std::time_t cutoff, const std::unordered_set<std::string>& in_use,
          TemporaryFiles temporary, SpaceLedger* ledger)
      : cutoff_(cutoff), in_use_(in_use), temporary_(temporary), ledger_(ledger) {}

  void entered(int fd, const std::string& name, std::size_t depth) override {
    const std::size_t prefix = depth == 0 ? 0 : levels_.back().prefix + name.size() + 1;
    Level level{name, prefix, {}};
    if (!in_use_.empty() && directory_identity(fd, level.identity) != 0) level.identity.clear();
    levels_.push_back(std::move(level));
  }
  void left(std::size_t) override { levels_.pop_back(); }

  void file(int dir, const char* entry, const struct stat& st) override {
    const std::string_view name(entry);
    // A SYMLINK request also makes its link under a temporary name; the
    // start-up pass removes such a link too (unlinkat never follows it).
    const bool startup = temporary_ == TemporaryFiles::kAll;
    if (!S_ISREG(st.st_mode) && !(startup && S_ISLNK(st.st_mode))) return;
    const bool stale = st.st_mtime < cutoff_;
    const bool partial = S_ISREG(st.st_mode) && is_partial_name(name);
    const bool leftover = (partial && stale) || (is_temporary(name) && (stale || startup));
    if (!leftover || held(name)) {
      if (partial) kept(dir, name, st);
      return;
    }
    if (const int err = remove_unheld(dir, entry, st, partial)) {
      // Held by an upload (here or on another server of this root), gone
      // already, or fresh again: not an error, and nothing to count.
      if (err == EWOULDBLOCK || err == ENOENT || err == ESTALE) {
        if (partial) kept(dir, name, st);
        return;
      }
      ++stats_.errors;
      return;
    }
    ++stats_.removed;
    if (partial) {
      stats_.removed_partials.push_back(FileId{st.st_dev, st.st_ino});
      // What a kept partial file still lacked is no longer promised.
      if (ledger_ != nullptr) ledger_->forget_kept(FileId{st.st_dev, st.st_ino});
    }
  }

  CleanupStats& stats() { return stats_; }

 private:
  // Removes a leftover only under the lock its upload would hold
  // (file_lock.hpp), so a file another server of this root is writing, or
  // has just opened to resume, is never taken from under it. 0 once
  // removed; EWOULDBLOCK when held, ESTALE when it is no longer stale.
  int remove_unheld(int dir, const char* entry, const struct stat& seen, bool partial) const {
    if (!S_ISREG(seen.st_mode)) return ::unlinkat(dir, entry, 0) == 0 ? 0 : errno;
    Fd file;
    if (const int err = open_locked(dir, entry, false, file)) return err;
    struct stat st;
    if (::fstat(file.get(), &st) != 0) return errno;
    // Another server may have resumed and cut it since the walk saw it.
    if (st.st_ino != seen.st_ino || (partial && st.st_mtime >= cutoff_)) return ESTALE;
    // The lock goes with `file`, after the name is gone.
    return ::unlinkat(dir, entry, 0) == 0 ? 0 : errno;
  }

  // A partial file the pass leaves: at start-up (no upload runs yet), what
  // it still lacks is promised again, as its cut upload had promised it
  // (docs/server.md, "Free-space reserve").
  void kept(int dir, std::string_view name, const struct stat& st) {
    if (temporary_ != TemporaryFiles::kAll) return;
    stats_.kept_partials.push_back(path_of(name));
    if (ledger_ == nullptr) return;
    const std::optional<std::uint64_t> declared = partial_declared_size(dir, std::string(name));
    const auto on_disk = static_cast<std::uint64_t>(st.st_size);
    if (declared && *declared > on_disk) {
      ledger_->keep(FileId{st.st_dev, st.st_ino}, st.st_dev, *declared - on_disk);
    }
  }

  // The path below the root of the file `name` of the deepest level.
  std::string path_of(std::string_view name) const {
    std::string path;
    for (std::size_t i = 1; i < levels_.size(); ++i) path += levels_[i].name + "/";
    path += name;
    return path;
  }

  // Whether the file `name` of the deepest level is a partial file an upload
  // holds: its key is the device:inode of the uploader's root, '/', and the
  // path below it (Server::claim_partial).
  bool held(std::string_view name) const {
    if (in_use_.empty()) return false;
    const std::string path = path_of(name);
    for (const Level& level : levels_) {
      if (!level.identity.empty() &&
          in_use_.count(level.identity + "/" + path.substr(level.prefix)) != 0) {
        return true;
      }
    }
    return false;
  }

  const std::time_t cutoff_;
  const std::unordered_set<std::string>& in_use_;
  const TemporaryFiles temporary_;
  SpaceLedger* const ledger_;
  std::vector<Level> levels_;
  CleanupStats stats_;
};

}  // namespace

CleanupStats remove_stale_partials(int root, std::chrono::seconds ttl,
                                   const std::unordered_set<std::string>& in_use,
                                   TemporaryFiles temporary, SpaceLedger* ledger) {
  const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(ttl.count());
  Cleaner cleaner(cutoff, in_use, temporary, ledger);
  const TreeWalkResult walked = walk_tree(root, cleaner);
  cleaner.stats().errors += walked.errors;
  return std::move(cleaner.stats());
}

}  // namespace ft::server
