#pragma once
// Reading local directories for a tree copy: open a directory without
// following a symbolic link in its place, list it (lstat of every entry,
// sorted by name), and the bits of struct stat a transfer needs.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/os/fd.hpp"
#include "common/os/mtime.hpp"

namespace ft::client {

struct LocalEntry {
  std::string name;
  struct stat st {};  // lstat: a symbolic link is described as itself
};

/// Opens the directory `name` relative to `dir_fd` (AT_FDCWD for a path).
/// `follow`: a symbolic link at `name` is followed (command-line
/// arguments); otherwise it is refused. Returns the open directory, or an
/// empty Fd with `why` set.
Fd open_directory(int dir_fd, const std::string& name, bool follow, std::string& why);
/// Reads every entry of the open directory `fd` (which stays open and
/// unmoved), lstat()ed, sorted bytewise by name; "." and ".." left out.
bool read_directory(int fd, std::vector<LocalEntry>& out, std::string& why);

/// A local directory read a window at a time, so that a huge one costs one
/// window of memory: each window is up to `window` entries in the order
/// the file system returns them, lstat()ed and sorted by name (like
/// ftserve's listings, docs/protocol.md section 5.3). "." and ".." are
/// left out.
class DirectoryStream {
 public:
  DirectoryStream() = default;
  DirectoryStream(const DirectoryStream&) = delete;
  DirectoryStream& operator=(const DirectoryStream&) = delete;
  ~DirectoryStream();

  /// Starts reading the open directory `fd`, which stays open and unmoved
  /// (the stream reads a duplicate of it). False with `why` on failure.
  bool open(int fd, std::string& why);
  /// Replaces `out` with the next window of at most `window` entries.
  /// False with `why` on failure; at_end() after the last.
  bool read(std::vector<LocalEntry>& out, std::size_t window, std::string& why);
  bool at_end() const { return stream_ == nullptr; }

 private:
  void close();
  DIR* stream_ = nullptr;
  int fd_ = -1;  // the directory the names are lstat()ed in (the caller's)
};
/// "fifo", "socket", "device": what a non-file, non-directory, non-link is.
std::string_view special_kind(mode_t mode);
/// Why a symlink at `link_path` (relative to the top of the copied tree)
/// may not point to `target`, or nullopt: symlink_target_violation()'s rule
/// (relative, never climbing above the top), and also no ".." after a
/// name, since that name may itself be a link ("b" -> "..", "a" ->
/// "b/..") and the climb would then leave the tree. Climbing only first,
/// through the link's real parent directories, cannot.
std::optional<std::string> link_target_violation(std::string_view link_path,
                                                 std::string_view target);

/// Reads the small regular file `name` in the directory `dir_fd` (not
/// following a symbolic link) into `text`, refusing one larger than
/// `max_bytes`. False with `why` on failure; `missing` is set (and `why`
/// empty) when there is no such file.
bool read_small_file_at(int dir_fd, const char* name, std::size_t max_bytes, std::string& text,
                        bool& missing, std::string& why);

/// `dir` + "/" + `name`, or `name` alone when `dir` is empty.
std::string join_path(std::string_view dir, std::string_view name);

}  // namespace ft::client
