#pragma once
// Space promised to uploads in progress (issue 10, finding 6). The
// free-space check used to be a snapshot: six uploads declared 300 MiB each
// into a 400 MiB file system, each saw the space free, and together they
// filled it. The ledger remembers, per file system (st_dev), what open
// uploads still have to write (declared size less what their file already
// holds) and how many files they will create; an upload is admitted only if
// free space less that promise still leaves the reserve, and free inodes
// less one per open upload still leave kInodeReserve.
//
// Checks run on the thread pool (right after the fstatvfs they compare
// with) and the promises shrink there as chunks are written, so the ledger
// is shared across threads behind one mutex; every critical section is a
// few additions.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "server/storage/root_fs.hpp"

namespace ft::server {

/// Why the ledger would not admit an upload.
enum class SpaceVerdict { kAdmitted, kNoBytes, kNoInodes };

/// One open upload's promise, given back when it is destroyed (its file was
/// committed, removed, or kept as a partial file).
class SpaceClaim {
 public:
  ~SpaceClaim();
  SpaceClaim(const SpaceClaim&) = delete;
  SpaceClaim& operator=(const SpaceClaim&) = delete;
  /// The file now holds bytes up to `end` (a write ended there).
  void wrote_to(std::uint64_t end);
  /// The file was emptied (a resumed upload restarting from offset 0).
  void truncated();

 private:
  friend class SpaceLedger;
  struct Books;
  SpaceClaim(std::shared_ptr<Books> books, dev_t device, std::uint64_t size, std::uint64_t held);
  void set_on_disk(std::uint64_t on_disk);

  std::shared_ptr<Books> books_;  // outlives the ledger if a job still runs
  dev_t device_;
  std::uint64_t size_;
  std::uint64_t on_disk_;
};

/// What open uploads still owe one file system.
struct Outstanding {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

class SpaceLedger {
 public:
  /// Free inodes (f_favail) kept beyond one per open upload: room for the
  /// server's own temporary and partial files, directories created on the
  /// way, and other processes, so that many empty files cannot take the
  /// last inode (docs/server.md, "Free-space reserve").
  static constexpr std::uint64_t kInodeReserve = 64;

  SpaceLedger();

  /// Under one lock: does a file of `size` bytes, `held` of which are
  /// already on disk, fit in `space` beside what open uploads promised,
  /// leaving `reserve` bytes and kInodeReserve inodes? If so, `claim`
  /// records the promise until it is destroyed.
  SpaceVerdict admit(const FreeSpace& space, std::uint64_t size, std::uint64_t held,
                     std::uint64_t reserve, std::unique_ptr<SpaceClaim>& claim);
  /// What open uploads still owe `device` (an eager upload, checked and
  /// written inside one batch, compares with this without a claim).
  Outstanding outstanding(dev_t device) const;

  /// The comparison admit() makes, for a check that holds no claim.
  static SpaceVerdict fits(const FreeSpace& space, const Outstanding& owed, std::uint64_t needed,
                           std::uint64_t reserve);

 private:
  std::shared_ptr<SpaceClaim::Books> books_;
};

}  // namespace ft::server
