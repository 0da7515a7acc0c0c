#pragma once
// Group commit of downloaded files. A verified file waits here under its
// partial name, sealed (mode and mtime applied) or with the mode and mtime
// flush() applies first; flush() makes every waiting file durable at once (one syncfs(2) per file
// system instead of an fsync per file), then renames each over its final name and fsyncs each
// directory once. Only then does the caller say a file is done, so the promise of a single-file
// commit holds: a file reported done is whole and durable under its final name. A crash before the
// renames leaves partial files whose data is complete, which the next run resumes (and verifies)
// from their full length. See docs/client.md, "Durability".
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ft::client {

class LandingFile;

class CommitBatch {
 public:
  /// A flush is due once this many files wait...
  static constexpr std::size_t kMaxFiles = 256;
  /// ... or this many bytes (what one sync writes out at most) ...
  static constexpr std::uint64_t kMaxBytes = 64ull * 1024 * 1024;
  /// ... or the oldest file waited this long (a slow trickle of files is
  /// still reported done promptly).
  static constexpr std::chrono::milliseconds kMaxWait{200};

  /// What became of one file of a flush, in the order they were added,
  /// then of each directory (add_directory()).
  struct Outcome {
    void* cookie = nullptr;
    std::optional<std::string> failure;  // which step failed; nullopt: durable under its name
    bool directory = false;              // the outcome of an add_directory()
  };

  /// The mode and mtime flush() applies (LandingFile::seal) before the sync.
  struct Seal {
    std::uint32_t mode = 0;
    std::int64_t mtime_ns = 0;
  };

  /// Adds a file (which the caller keeps alive, unmoved and untouched until
  /// the flush) of `bytes` bytes, sealed already or with the `seal` that
  /// flush() applies; `cookie` comes back in its Outcome.
  void add(LandingFile& file, std::uint64_t bytes, void* cookie,
           std::optional<Seal> seal = std::nullopt);
  /// Adds a directory (whose descriptor the caller keeps open until the
  /// flush) that got its last entry, mode and mtime: flush() fsyncs it
  /// after the files' renames, unless one of those fsyncs covered it
  /// already, and `parent_fd` too unless it is -1 (a directory this run
  /// created where nothing else syncs its entry). Its Outcome says whether
  /// that worked. On a disk such an fsync takes about 10 ms: one for each
  /// directory of a tree on the transfer's thread stopped the transfer.
  void add_directory(int dir_fd, int parent_fd, void* cookie);
  /// Files waiting (directories are not counted).
  std::size_t size() const { return files_.size(); }
  std::size_t directories() const { return directories_.size(); }
  bool empty() const { return files_.empty() && directories_.empty(); }
  std::uint64_t bytes() const { return bytes_; }
  /// True if the count, the bytes or the oldest file's wait reached its limit.
  bool due(std::chrono::steady_clock::time_point now) const;
  /// Seals the files added with a Seal, then syncs, renames and syncs the
  /// directories of every waiting file (see above) and empties the batch.
  /// Touches nothing but the batch and its files: it may run on another
  /// thread (CommitWorker) while the caller leaves those files alone. A file whose data cannot be
  /// made durable or renamed is discarded; one whose directory cannot be synced is in place but
  /// reported failed, as a single commit would.
  std::vector<Outcome> flush();

 private:
  struct Waiting {
    LandingFile* file;
    void* cookie;
    std::optional<Seal> seal;
  };
  struct WaitingDirectory {
    int fd;
    int parent_fd;
    void* cookie;
  };
  std::vector<Waiting> files_;
  std::vector<WaitingDirectory> directories_;
  std::uint64_t bytes_ = 0;
  std::chrono::steady_clock::time_point oldest_{};
};

}  // namespace ft::client
