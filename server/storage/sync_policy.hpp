#pragma once
// How a commit makes a file durable on the file system it lands on. A group
// commit wants one syncfs per file system for a whole batch of files; that
// is only a promise where syncfs reports the errors of the writes it
// flushes. Where it does not (FUSE, network and stacked file systems, and
// kernels before 5.8), each file is fsynced on its own so that an error is
// seen and fails that upload. docs/server.md ("Durability") has the list
// and the reasons.
#include <sys/types.h>

namespace ft::server {

enum class SyncMethod {
  /// syncfs reports writeback errors: one syncfs may cover many files.
  kSyncfs,
  /// Only fsync of each file (and directory) is known to reach the storage
  /// and report its errors.
  kPerFile,
};

/// The method for a file system whose statfs f_type is `type`, on a kernel
/// whose syncfs reports writeback errors (Linux 5.8 and later).
SyncMethod sync_method_for_type(unsigned long type);

/// The method for the file system holding `fd` on this kernel. kPerFile when
/// fstatfs fails: the slower way is never the wrong one.
SyncMethod sync_method_of(int fd);

}  // namespace ft::server
