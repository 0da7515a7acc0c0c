#pragma once
// One bounded walk of a directory tree, shared by the stale-partial cleanup
// and the quota measure (docs/server.md, "Quotas" and "Partial uploads").
// Blocking: runs on the thread pool (or before the loop starts).
//
// Whatever the tree: any depth, without recursion; at most
// kMaxOpenDirectories directory descriptors open (and one to read the
// current directory with); no symbolic link followed, and no path built
// from the start, so no path grows past PATH_MAX and the walk never leaves
// the start directory; memory grows with the current path only (its names
// and the subdirectories of its directories still to visit), never with
// the number of directories walked.
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace ft::server {

/// Directories a walk keeps open at once; deeper ones are reached again
/// from the nearest open one, one component at a time.
inline constexpr std::size_t kMaxOpenDirectories = 16;

/// What a walk is told, on the walking thread, in this order: a directory
/// entered, each of its entries that is not a directory, then its
/// subdirectories (each entered and left in turn), then it is left.
class TreeVisitor {
 public:
  /// The directory `fd` (valid during the call only), named `name` in the
  /// one above ("" for the start), `depth` levels below the start (0).
  virtual void entered(int fd, const std::string& name, std::size_t depth) {
    (void)fd, (void)name, (void)depth;
  }
  /// An entry of the directory `dir` (the deepest entered) that is not a
  /// directory, with its lstat.
  virtual void file(int dir, const char* name, const struct stat& st) = 0;
  /// The directory entered at `depth` is done with.
  virtual void left(std::size_t depth) { (void)depth; }

 protected:
  ~TreeVisitor() = default;
};

struct TreeWalkResult {
  std::size_t errors = 0;  // directories that could not be opened or read
  int first_error = 0;     // the errno of the first of them
};

/// Walks the tree below `start` (the start directory included). A
/// directory that is already on the current path (a bind mount of an
/// ancestor) is skipped, so the walk ends.
TreeWalkResult walk_tree(int start, TreeVisitor& visitor);

}  // namespace ft::server
