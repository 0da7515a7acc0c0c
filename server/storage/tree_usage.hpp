#pragma once
// What a directory tree holds, for an identity's quota (docs/server.md,
// "Quotas"): measured once by a walk on the thread pool, never on the loop.
#include <cstdint>
#include <string>
#include <vector>

#include "server/storage/space_ledger.hpp"

namespace ft::server {

/// A resumable upload's partial file found by the measure: one kept before
/// a restart, or one a running upload holds.
struct FoundPartial {
  std::string path;       // below the measured directory
  FileId file;            // how the stale-partial cleanup names it
  std::uint64_t counted;  // its declared size, else its size on disk
  std::uint64_t on_disk;  // st_size
  bool declared = false;  // `counted` is the declared size
};

/// Bytes and number of the regular files beneath a directory, hidden
/// partial and temporary files included; a partial file counts at the size
/// its upload declared, where that is recorded (partial_record.hpp).
struct TreeUsage {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
  std::vector<FoundPartial> partials;
};

/// Walks the tree below the directory `dir` (tree_walk.hpp: any depth, a
/// bounded number of descriptors, never through a symbolic link) and counts
/// its regular files. Blocking: call it on the thread pool. Returns 0, or
/// the errno of the first directory that could not be read (the count then
/// holds what was read).
int measure_tree(int dir, TreeUsage& out);

}  // namespace ft::server
