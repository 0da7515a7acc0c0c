#pragma once
// Removal of stale partial uploads: ".ft-part-*" (resumable partial data)
// whose mtime is older than the TTL and ".ft-tmp-*" (temporary files of
// uploads that cannot resume), anywhere below the root. Blocking: runs
// before the loop starts and then on the thread pool. Never touches any
// other file and never follows a symlink, and removes a regular file only
// under the lock an upload holds on it (file_lock.hpp: servers sharing a
// root, docs/scale-out.md). The walk is tree_walk.hpp's: any
// depth, at most kMaxOpenDirectories directory descriptors.
#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_set>
#include <vector>

#include "server/storage/space_ledger.hpp"
#include "server/storage/tree_walk.hpp"

namespace ft::server {

struct CleanupStats {
  std::size_t removed = 0;  // partial and temporary files together
  std::size_t errors = 0;
  /// The partial files removed, for the quotas that counted them.
  std::vector<FileId> removed_partials;
  /// With TemporaryFiles::kAll: the partial files left, by their path
  /// below the root (kept before a restart, for the cap on kept partials).
  std::vector<std::string> kept_partials;
};

/// Which ".ft-tmp-*" files a pass removes.
enum class TemporaryFiles {
  /// Those older than the TTL: the periodic pass, while uploads run (a
  /// running upload's temporary file is not in `in_use`).
  kOlderThanTtl,
  /// All of them: the start-up pass, before any upload of this server
  /// runs. No upload can resume a temporary file (only ".ft-part-*" are
  /// resumed), so each one no upload holds is what a killed server left
  /// behind. Another server sharing the root holds its uploads' files
  /// locked (file_lock.hpp), and a locked file is never removed.
  kAll,
};

/// `in_use` holds the partial files of uploads in flight, each as the
/// "<dev>:<inode>" of the uploading identity's root, '/', and the file's path
/// below that root (Server::claim_partial's keys). A partial file removed
/// gives back its kept entry in `ledger`, if one is given; with kAll (the
/// start-up pass) each partial file left gets one, for what it still lacks
/// of its declared size (partial_record.hpp).
CleanupStats remove_stale_partials(int root, std::chrono::seconds ttl,
                                   const std::unordered_set<std::string>& in_use,
                                   TemporaryFiles temporary = TemporaryFiles::kOlderThanTtl,
                                   SpaceLedger* ledger = nullptr);

}  // namespace ft::server
