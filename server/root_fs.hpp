#pragma once
// Blocking file-system primitives confined beneath the served root. They are
// only ever called from libuv's thread pool, never on the loop thread. Every
// path is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
// neither "..", an absolute symlink nor a magic link can lead outside.
// Functions return 0 or an errno value.
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "messages.hpp"

namespace ft::server {

/// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// Opens `relative` (a path that passed the path rules, "" for the root
/// itself) beneath `root`.
int open_beneath(int root, const std::string& relative, int flags, Fd& out);

/// Opens the directory that holds the last component of `components`,
/// creating missing directories (mode 0755) on the way.
int open_parent_creating(int root, const std::vector<std::string>& components, Fd& dir_out);

/// Creates a new hidden temporary file (reserved prefix) in `dir`, with
/// `mode` (less the process umask).
int create_temp_file(int dir, std::string& name_out, Fd& file_out, mode_t mode = 0600);
/// The process umask, read once at start-up (before any thread exists).
mode_t process_umask();

/// The entries of the directory `relative`, sorted by name, without "." and
/// "..", and without names carrying the reserved prefix. `hashes` fills each
/// regular file's content hash, `targets` each symlink's target.
int list_directory(int root, const std::string& relative, std::vector<Entry>& out,
                   bool hashes = false, bool targets = false);

/// Creates the directory `components` (and missing parents) unless it
/// exists, applies the permission bits and, if given, the mtime.
int make_directory(int root, const std::vector<std::string>& components, std::uint32_t mode,
                   const std::int64_t* mtime_ns);

/// Creates (or atomically replaces a file or link with) a symbolic link to
/// `target` at `components` and sets the link's own mtime. The caller has
/// checked that the target stays inside the tree.
int make_symlink(int root, const std::vector<std::string>& components, const std::string& target,
                 std::int64_t mtime_ns);

/// A timespec pair that leaves atime alone and sets mtime.
void mtime_times(std::int64_t mtime_ns, struct timespec times[2]);

/// Describes `relative` itself (not following a final symlink).
int stat_path(int root, const std::string& relative, Entry& out);

Entry entry_from_stat(std::string name, const struct stat& st);
std::int64_t mtime_ns_of(const struct stat& st);

}  // namespace ft::server
