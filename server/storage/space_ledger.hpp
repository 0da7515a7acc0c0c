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
// A resumable upload cut by a lost connection leaves its partial file for
// a rerun to resume: what it would still need (declared size less what the
// file holds) stays promised as a "kept" entry, keyed by the file's
// (st_dev, st_ino) so that one file is never counted twice. A resume takes
// the entry over in the same locked step that records its own promise; the
// stale-partial cleanup releases it with the file.
//
// Checks run on the thread pool (right after the fstatvfs they compare
// with) and the promises shrink there as chunks are written, so the ledger
// is shared across threads behind one mutex; every critical section is a
// few additions.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "server/storage/root_fs.hpp"

namespace ft::server {

/// A file on disk, by device and inode: how kept partial files are keyed.
using FileId = std::pair<dev_t, ino_t>;

/// Why the ledger would not admit an upload.
enum class SpaceVerdict { kAdmitted, kNoBytes, kNoInodes };

/// One open upload's promise, given back when it is destroyed (its file was
/// committed or removed) or turned into a kept entry (keep_partial).
class SpaceClaim {
 public:
  ~SpaceClaim();
  SpaceClaim(const SpaceClaim&) = delete;
  SpaceClaim& operator=(const SpaceClaim&) = delete;
  /// The file now holds bytes up to `end` (a write ended there).
  void wrote_to(std::uint64_t end);
  /// The file was emptied (a resumed upload restarting from offset 0).
  void truncated();
  /// This upload opened (or created) the partial file `file`: a kept entry
  /// for it, if any, is released, and the file is this claim's from now on.
  void opened_partial(FileId file);
  /// The upload was cut and its partial file, holding `on_disk` bytes, is
  /// kept: in one locked step the promise becomes the file's kept entry
  /// (what it still lacks) and the claim no longer counts. Without an
  /// opened partial file, nothing is kept.
  void keep_partial(std::uint64_t on_disk);
  /// The upload removed the partial file it named at admission (it failed
  /// while opening it): there is no kept entry to give back.
  void removed_partial();

 private:
  friend class SpaceLedger;
  struct Books;
  SpaceClaim(std::shared_ptr<Books> books, dev_t device, std::uint64_t size, std::uint64_t held);
  void set_on_disk(std::uint64_t on_disk);

  std::shared_ptr<Books> books_;  // outlives the ledger if a job still runs
  dev_t device_;
  std::uint64_t size_;
  std::uint64_t on_disk_;
  // The kept entry admit() took over, given back if this upload ends
  // before it opens the partial file (refused as BUSY, say).
  std::optional<FileId> adopted_;
  std::uint64_t adopted_bytes_ = 0;
  std::optional<FileId> partial_;  // the partial file opened, if any
  bool released_ = false;          // turned into a kept entry
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
  /// `kept` names the partial file a resumable upload would resume: its
  /// kept entry is this upload's own need, so it is left out of the check
  /// and, if admitted, taken over by `claim` in the same locked step.
  SpaceVerdict admit(const FreeSpace& space, std::uint64_t size, std::uint64_t held,
                     std::uint64_t reserve, std::unique_ptr<SpaceClaim>& claim,
                     std::optional<FileId> kept = std::nullopt);
  /// The partial file `file`, on `device`, still lacks `bytes`: a kept
  /// entry for it (one kept before a restart, found by the start-up pass),
  /// unless an open upload holds it.
  void keep(FileId file, dev_t device, std::uint64_t bytes);
  /// The partial file `file` was removed (stale-partial cleanup): its kept
  /// entry, if any, is released.
  void forget_kept(FileId file);
  /// How many kept entries there are (at most the partial files kept).
  std::size_t kept_count() const;
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
