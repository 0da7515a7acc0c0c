#pragma once
// Removal of stale partial uploads: ".ft-part-*" (resumable partial data)
// and ".ft-tmp-*" (temporary files a killed server left behind) whose mtime
// is older than the TTL, anywhere below the root. Blocking: runs before the
// loop starts and then on the thread pool. Never touches any other file and
// never follows a symlink.
#include <chrono>
#include <string>
#include <unordered_set>

namespace ft::server {

struct CleanupStats {
  std::size_t removed = 0;
  std::size_t errors = 0;
};

/// `in_use` holds the partial files of uploads in flight, each as the
/// "<dev>:<inode>" of the uploading identity's root, '/', and the file's path
/// below that root (Server::claim_partial's keys).
CleanupStats remove_stale_partials(int root, std::chrono::seconds ttl,
                                   const std::unordered_set<std::string>& in_use);

}  // namespace ft::server
