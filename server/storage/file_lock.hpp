#pragma once
// The lock that makes one upload per partial file hold across servers
// sharing a root (docs/scale-out.md): an open-file-description write lock
// (fcntl F_OFD_SETLK) on the whole file, taken without waiting. Unlike a
// process-associated POSIX lock it conflicts between two descriptors of one
// process too, and it is released when the last descriptor of that open
// file description closes, so a killed server never leaves it behind.
// CephFS, GlusterFS and NFSv4 pass these locks to every client of the file
// system. Blocking calls: on the thread pool only.
#include <string>

#include "common/os/fd.hpp"

namespace ft::server {

/// Locks the whole of `fd` (open for writing) for this open file
/// description. 0, EWOULDBLOCK when another one holds a lock on it (another
/// upload, here or on another server), or another errno value.
int lock_whole_file(int fd);

/// Opens `name` in `dir` for writing without following a link and locks it
/// as lock_whole_file() does, then checks that `name` still names the
/// locked file (another server's cleaner may have removed it between the
/// open and the lock; the open is then tried again, a few times). With
/// `create` a missing file is created (mode 0600). 0 with `file` open and
/// locked, or an errno value (EWOULDBLOCK: held elsewhere).
int open_locked(int dir, const std::string& name, bool create, Fd& file);

}  // namespace ft::server
