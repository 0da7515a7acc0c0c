#pragma once
// Removal of stale partial uploads: ".ft-part-*" (resumable partial data)
// whose mtime is older than the TTL and ".ft-tmp-*" (temporary files of
// uploads that cannot resume), anywhere below the root. Blocking: runs
// before the loop starts and then on the thread pool. Never touches any
// other file and never follows a symlink. Walks trees of any depth without
// recursion, holding at most kMaxOpenDirectories directory descriptors (and
// one to read the current directory with).
#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_set>

#include "server/storage/space_ledger.hpp"

namespace ft::server {

/// Directories a pass keeps open at once; deeper ones are reached again
/// from the nearest open one, one component at a time.
inline constexpr std::size_t kMaxOpenDirectories = 16;

struct CleanupStats {
  std::size_t removed = 0;  // partial and temporary files together
  std::size_t errors = 0;
};

/// Which ".ft-tmp-*" files a pass removes.
enum class TemporaryFiles {
  /// Those older than the TTL: the periodic pass, while uploads run (a
  /// running upload's temporary file is not in `in_use`).
  kOlderThanTtl,
  /// All of them: the start-up pass, before any upload runs. No upload can
  /// resume a temporary file (only ".ft-part-*" are resumed), so each one
  /// is what a killed server left behind. Assumes one ftserve per root.
  kAll,
};

/// `in_use` holds the partial files of uploads in flight, each as the
/// "<dev>:<inode>" of the uploading identity's root, '/', and the file's path
/// below that root (Server::claim_partial's keys). A partial file removed
/// gives back its kept entry in `ledger`, if one is given.
CleanupStats remove_stale_partials(int root, std::chrono::seconds ttl,
                                   const std::unordered_set<std::string>& in_use,
                                   TemporaryFiles temporary = TemporaryFiles::kOlderThanTtl,
                                   SpaceLedger* ledger = nullptr);

}  // namespace ft::server
