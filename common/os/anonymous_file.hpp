#pragma once
// A file without a name until it is committed (O_TMPFILE): ftserve's small
// uploads and ftget's small files in a directory it made.
//
// Such a file used to be created under a hidden name and renamed: two
// directory insertions, a lookup and a removal per file, in directories
// that held hundreds of such names at once (a tree's files are pipelined).
// An unnamed file is linked once, under its final name, and leaves nothing
// behind if the program dies first. On ext4 with a journal ftserve spent
// 15 % less CPU per 10,000 files of 4 KiB (docs/performance.md).
//
// Linked with linkat(AT_EMPTY_PATH) where the server may (root), else
// through /proc/self/fd (AT_SYMLINK_FOLLOW), which needs no privilege.
// Blocking calls: off any event loop.
#include <sys/types.h>

#include <string>

#include "common/os/fd.hpp"

namespace ft {

/// Creates an unnamed file in `dir` (the file system `dir` is on), with
/// `mode` less the umask, open for reading and writing. 0, or
/// EOPNOTSUPP when this file system, kernel or process cannot (no
/// O_TMPFILE, no /proc): the caller then makes a named temporary file.
int create_anonymous_file(int dir, mode_t mode, Fd& file_out);

/// Gives the unnamed `file` the name `name` in `dir`: 0, EEXIST when the
/// name exists (never replaced), or another errno value.
int link_anonymous_file(int file, int dir, const std::string& name);

}  // namespace ft
