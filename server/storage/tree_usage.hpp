#pragma once
// What a directory tree holds, for an identity's quota (docs/server.md,
// "Quotas"): measured once by a walk on the thread pool, never on the loop.
#include <cstdint>

namespace ft::server {

/// Bytes (st_size) and number of the regular files beneath a directory,
/// hidden partial and temporary files included.
struct TreeUsage {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

/// Walks the tree below the directory `dir` (never through a symbolic
/// link, never into another file system's directory twice) and counts its
/// regular files. Blocking: call it on the thread pool. Returns 0, or the
/// errno of the first directory that could not be read (the count then
/// holds what was read).
int measure_tree(int dir, TreeUsage& out);

}  // namespace ft::server
