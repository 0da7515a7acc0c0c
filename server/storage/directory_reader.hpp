#pragma once
// A directory read a window at a time, for LIST: each window is up to
// kListingWindow entries in the order the file system returns them, stat()ed
// (with HASHES each file's content hash, with TARGETS each link's target)
// and sorted by name. A directory that fits in one window is listed wholly
// sorted, as it always was; a larger one in windows each sorted, so that
// the server holds one window whatever the directory's size
// (docs/protocol.md, section 5.3). Blocking: used on the thread pool, one
// call at a time.
#include <dirent.h>

#include <cstddef>
#include <string>
#include <vector>

#include "common/wire/messages.hpp"
#include "server/storage/archive_fs.hpp"

namespace ft::server {

class HashCache;

/// Entries read and sorted together; a directory of at most this many is
/// listed in one sorted run.
inline constexpr std::size_t kListingWindow = 16384;

class DirectoryReader {
 public:
  DirectoryReader() = default;
  DirectoryReader(const DirectoryReader&) = delete;
  DirectoryReader& operator=(const DirectoryReader&) = delete;
  ~DirectoryReader();

  /// Opens the directory `relative` beneath `root` (open_beneath); an errno
  /// on failure.
  int open(int root, const std::string& relative);
  /// Replaces `out` with the next window (at most `window` entries, sorted
  /// by name, without "." and "..", and without names carrying the reserved
  /// prefix). `meta` (ARCHIVE) fills each entry's owners, hard-link key and
  /// extended attributes (archive_fs.hpp). After the last window at_end()
  /// is true; an errno on failure.
  int read(std::vector<Entry>& out, HashCache* hashes, bool targets, bool meta = false,
           std::size_t window = kListingWindow);
  bool at_end() const { return stream_ == nullptr; }

 private:
  void close();
  DIR* stream_ = nullptr;
  OwnerNames names_;  // user and group names, looked up once per listing
};

}  // namespace ft::server
