#pragma once
// Power cuts for the crash tests (issue 17): the file system under test is
// ext4 on a loop device; a power cut is a copy of its backing image taken
// at once, while the programs keep running, which holds exactly what had
// reached the device. The copy is repaired with e2fsck, mounted read-only
// on another loop device and compared with what the clients were told.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace ft::testing {

/// Mount options of the file system under test, chosen so that nothing
/// rescues data that was not synced: data=writeback orders no data before
/// the journal's metadata, commit=600 keeps the journal from committing by
/// itself during a test, and noauto_da_alloc stops ext4 from flushing a
/// file it sees renamed over another (its guess for an unsynced replace).
inline constexpr const char* kCrashMountOptions = "data=writeback,commit=600,noauto_da_alloc";

/// mkfs.ext4 options of the image: 4 KiB blocks and 256-byte inodes (a
/// small image would get 128-byte ones, whose times have no nanoseconds).
inline const std::vector<std::string> kCrashMkfsOptions = {"-b", "4096", "-I", "256"};

/// What a copy taken at a power cut may and must hold, by path relative to
/// the file system's root. Directories above an allowed name are allowed;
/// names with a component starting with ".ft-" (temporary and partial
/// files of either side) are never checked.
class CrashExpectations {
 public:
  /// `name` may hold a regular file with exactly `source`'s bytes: an
  /// upload or download that may be committed but is not acknowledged yet.
  void allow_file(const std::string& name, const fs::path& source);
  /// Acknowledged: `name` must hold exactly `source`'s bytes and mtime,
  /// and no other content any more.
  void acknowledge_file(const std::string& name, const fs::path& source);
  void allow_directory(const std::string& name);
  /// Acknowledged: `name` must be a directory.
  void acknowledge_directory(const std::string& name);
  void allow_symlink(const std::string& name, const std::string& target);
  /// Acknowledged: `name` must be a symbolic link to `target`.
  void acknowledge_symlink(const std::string& name, const std::string& target);
  std::size_t acknowledged() const;

  /// What is wrong with the copy mounted at `root`, one line each: an
  /// acknowledged entry missing or different, a final name holding
  /// something no upload sent (a partial file, a stray name).
  std::vector<std::string> problems(const fs::path& root) const;

 private:
  enum class Kind { kFile, kDirectory, kSymlink };
  struct Entry {
    Kind kind = Kind::kFile;
    std::set<std::string> allowed;  // XXH3-128 of a file, a link's target
    bool acknowledged = false;
    std::optional<std::int64_t> mtime_ns;  // of an acknowledged file
  };
  Entry& entry(const std::string& name, Kind kind);
  const std::string& hash_of(const fs::path& source);

  std::map<std::string, Entry> entries_;
  std::map<fs::path, std::string> hashes_;  // sources do not change
};

/// What one power cut showed.
struct CrashCheck {
  std::string failure;                // a step that failed (copy, e2fsck, mount)
  std::vector<std::string> problems;  // CrashExpectations::problems of the copy
  std::string fsck_output;
  double seconds = 0;  // the whole cut: copy, repair, mount, compare
};

/// Cuts the power of the file system whose backing file is `image`: stops
/// `writers` (their threads finish the system call they are in, as a
/// process does before it can stop) so that the copy is one moment (a
/// writer left running may change the device during the few milliseconds
/// of the copy, which a power cut would not), copies
/// the image into `scratch` without any sync, lets the writers go on,
/// repairs the copy with `e2fsck -fy`, mounts it read-only and compares it
/// with `expected`. Unmounts and removes the copy before returning.
CrashCheck cut_power(const fs::path& image, const fs::path& scratch,
                     const std::vector<pid_t>& writers, const CrashExpectations& expected);

}  // namespace ft::testing
