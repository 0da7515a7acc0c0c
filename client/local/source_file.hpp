#pragma once
// A local regular file being uploaded: opened and described once, read with
// pread(), and checked at the end for changes made while it was sent.
#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/base/bytes.hpp"
#include "common/os/fd.hpp"
#include "common/os/sparse.hpp"

namespace ft::client {

class SourceFile {
 public:
  /// Opens `path` for reading. Refuses directories and anything that is
  /// not a regular file; on failure returns nullopt and sets `why`.
  static std::optional<SourceFile> open(const std::string& path, std::string& why);
  /// Same for `name` relative to the directory `dir_fd`, never following a
  /// symbolic link at `name` (a tree walk sends links as links, or not).
  static std::optional<SourceFile> open_at(int dir_fd, const std::string& name, std::string& why);

  std::uint64_t size() const { return size_; }
  std::uint32_t mode() const { return mode_; }  // permission bits (07777)
  std::int64_t mtime_ns() const { return mtime_ns_; }
  /// Identity of the file: the device and inode it had at open().
  std::uint64_t device() const { return device_; }
  std::uint64_t inode() const { return inode_; }

  /// True if the file has fewer blocks than its size needs: it has holes.
  bool sparse() const { return static_cast<std::uint64_t>(opened_.st_blocks) * 512 < size_; }
  /// The next range of data at or after `offset` (next_data_range(): start
  /// == size() when only a hole is left). False with `why` on an error.
  bool data_range(std::uint64_t offset, std::uint64_t& start, std::uint64_t& end, std::string& why);

  /// Fills all of `out` from `offset`. Returns false with `why` set on a
  /// read error or if the file ended early (it shrank).
  bool read_at(std::uint64_t offset, std::span<std::uint8_t> out, std::string& why) const;

  enum class Check { kUnchanged, kChanged, kFailed };
  /// Compares size, mtime and ctime with those seen at open()
  /// (unchanged_since): kChanged if any moved, kFailed (with `why`) if
  /// fstat() failed.
  Check check_unchanged(std::string& why) const;
  /// Frees the descriptor once the file is done with.
  void close() { fd_.reset(); }

 private:
  SourceFile() = default;
  static std::optional<SourceFile> open_file(int dir_fd, const std::string& name, int flags,
                                             std::string& why);
  Fd fd_;
  std::uint64_t size_ = 0;
  std::uint32_t mode_ = 0;
  std::int64_t mtime_ns_ = 0;
  std::uint64_t device_ = 0;
  std::uint64_t inode_ = 0;
  struct stat opened_ {};                       // as opened: check_unchanged() compares with it
  std::optional<DataRangeCursor> data_ranges_;  // made by the first data_range()
};

}  // namespace ft::client
