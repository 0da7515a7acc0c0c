#pragma once
// Batches small file jobs of every connection into one thread-pool job at a
// time. Each thread-pool job costs two thread wake-ups; for many small
// files (an open, a small write, a commit each) those wake-ups, not the
// disk, set the pace. Jobs submitted while a batch runs form the next batch
// (up to kMaxJobsPerBatch of them; the rest the batches after it), so an
// idle server adds no delay and a busy one amortises the hand-offs.
//
// Commits are batched the same way with group commit: every file of the
// batch is synced on whichever file system it lands (one syncfs per file
// system for many files where syncfs reports errors, an fsync per file
// elsewhere: sync_policy.hpp), then renamed into place, then each directory
// touched is fsynced once, and only then are the completions run (which
// send OK).
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "server/storage/root_fs.hpp"
#include "server/storage/sync_policy.hpp"
#include "uvx/handle.hpp"

namespace ft::server {

/// Directories opened during one batch, shared by its items: a tree of
/// small files puts many files in each directory, and one openat2 per
/// directory and batch replaces one per file. Items of one batch may come
/// from identities with different roots: a directory is remembered under
/// its root's descriptor (held by the server for its whole life) and its
/// path below that root. Closed when the batch ends.
class BatchDirs {
 public:
  /// The directory holding the last of `components` beneath `root`
  /// (missing ones are created), or -errno.
  int parent_of(int root, const std::vector<std::string>& components);
  /// The same without creating anything: -ENOENT when a directory on the
  /// way is missing.
  int existing_parent_of(int root, const std::vector<std::string>& components);
  /// Free bytes beneath `root` as the batch sees them: one fstatvfs per
  /// root and batch, less what the batch's earlier items claimed.
  int available_bytes(int root, std::uint64_t& out);
  /// The same with free inodes and the file system's device.
  int free_space(int root, FreeSpace& out);
  /// An item of the batch takes `bytes` and one inode beneath `root`.
  void claim_bytes(int root, std::uint64_t bytes);
  /// How the file system of `dir` (a descriptor this batch holds open) is
  /// synced: one fstatfs per directory and batch.
  SyncMethod sync_method(int dir);

 private:
  std::unordered_map<std::string, Fd> open_;
  std::unordered_map<int, FreeSpace> available_;
  std::unordered_map<int, SyncMethod> sync_methods_;
};

/// One upload's commit: verify the whole-file hash, apply mode and mtime,
/// sync, rename `temp_name` to `final_name` in `dir` (or link the unnamed
/// file there), sync `dir`.
struct CommitItem {
  int root = -1;  // the uploading identity's root, for `prepare`
  int file = -1;
  int dir = -1;
  std::string temp_name;
  std::string final_name;
  std::uint32_t mode = 0;
  bool mode_applied = false;  // the file was created with exactly `mode`
  /// `file` has no name yet (anonymous_file.hpp): the commit links it.
  bool anonymous = false;
  std::int64_t mtime_ns = 0;
  /// Without the overwrite right: the rename fails with EEXIST rather than
  /// replace a name that appeared since the upload was checked.
  bool no_replace = false;
  Hash128 expected;
  const StreamHash128* hash = nullptr;  // digest taken in the worker
  /// Optional, run in the worker before the commit: creates and writes the
  /// file (an eager upload's whole life in one batch); returns 0 or errno.
  std::function<int(CommitItem&, BatchDirs&)> prepare;
  /// Optional, run in the worker after the directory sync (closes files).
  std::function<void(CommitItem&)> after;
  // Results, read by the completion.
  bool hash_ok = true;
  /// The rename replaced a regular file of this many bytes (the quota
  /// counts an overwrite as the change of size).
  std::optional<std::uint64_t> replaced;
  int err = 0;
};

class JobBatcher {
 public:
  /// The most plain jobs one batch runs (commits are not capped): a
  /// restore of small files queues a thousand GET opens at once, and one
  /// batch of them all would hold every reply back until the last file was
  /// read while the client waits; batches of this many keep replies flowing.
  static constexpr std::size_t kMaxJobsPerBatch = 64;
  /// Batches that may run at once. More than one keeps the second core
  /// busy while a batch waits in its syscalls, and on a real disk a batch's
  /// syncfs overlaps the next batches' creates: with 10,000 small files on
  /// ext4, 2 batches did about 6,200 files/s, 4 about 7,900 and 8 about
  /// 9,300 (docs/performance.md). Once commits waited for company
  /// (kMinCommitsWhileBusy), 6 took 0.40-0.43 s, 4 0.44-0.46 s and 8
  /// 0.42 s (ext4 with a journal). Six keep a quarter of the 8 pool
  /// threads for downloads' reads, listings and hashing.
  static constexpr int kMaxBatchesRunning = 6;
  /// While a batch runs, commits alone start another one only once this
  /// many wait (or kCommitWaitMs after the first of them came): a batch
  /// costs its syncs whatever it holds, and a batch of one file taken as
  /// soon as a slot frees costs a tree upload three journal commits for
  /// that file. With 10,000 small files on ext4 with a journal, starting
  /// at any size took 0.49 s, at 64 0.46 s and at 128 0.42 s (on tmpfs
  /// 0.23 s, at 32 0.19 s, at 128 0.20 s; docs/performance.md). A batch ending
  /// starts whatever waits when no other batch runs, so nothing waits for
  /// more than one batch or the timer.
  static constexpr std::size_t kMinCommitsWhileBusy = 128;
  static constexpr std::uint64_t kCommitWaitMs = 10;

  explicit JobBatcher(uv_loop_t* loop) : loop_(loop) {}
  JobBatcher(const JobBatcher&) = delete;
  JobBatcher& operator=(const JobBatcher&) = delete;

  /// Closes the wait timer (the loop frees it); what is submitted later
  /// starts as soon as a slot is free. Called once the loop is stopping.
  void close();

  /// Runs `work` in the next batch on the thread pool, then `done` on the
  /// loop; same contract as queue_job().
  void submit(std::function<void()> work, std::function<void()> done);
  /// Group-commits `item` in the next batch; `done` runs after its
  /// directory was synced (or on failure).
  void commit(std::shared_ptr<CommitItem> item, std::function<void()> done);
  /// Batches started whose completions have not run yet.
  int batches_running() const { return running_; }

 private:
  struct Job {
    std::function<void()> work;
    std::function<void()> done;
  };
  struct Commit {
    std::shared_ptr<CommitItem> item;
    std::function<void()> done;
  };
  /// Starts a batch if a slot is free and there is work; `waited`: the
  /// commits waited kCommitWaitMs already, they go whatever their number.
  void maybe_start(bool waited = false);
  /// Whether the commits waiting now should wait for more (kMinCommitsWhileBusy).
  bool commits_should_wait() const;
  static void on_wait_timer(uv_timer_t* timer) noexcept;

  uv_loop_t* loop_;
  /// Armed while commits wait for company; made on first use.
  uvx::Handle<uv_timer_t> wait_timer_;
  bool closed_ = false;
  int running_ = 0;
  std::vector<Job> jobs_;
  std::vector<Commit> commits_;
};

}  // namespace ft::server
