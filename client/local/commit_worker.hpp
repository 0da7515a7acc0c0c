#pragma once
// Runs the flushes of a CommitBatch on a thread of its own, one batch at a
// time, so that ftget keeps receiving (and writing the next files) while a
// batch is sealed, synced and renamed: on tmpfs the renames were a third of
// the client's time on its only thread, on a disk the sync stopped the
// transfer for its whole length. The caller hands a batch over with
// start(), leaves its files alone until the batch comes back, and learns
// that it did through wake_fd() (readable) and take(); a file is reported
// done only from its Outcome, so the durability promise is the batch's.
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "client/local/commit_batch.hpp"
#include "common/os/fd.hpp"

namespace ft::client {

class CommitWorker {
 public:
  CommitWorker();
  /// Waits for the batch being flushed, if any, and ends the thread.
  ~CommitWorker();
  CommitWorker(const CommitWorker&) = delete;
  CommitWorker& operator=(const CommitWorker&) = delete;

  /// A batch was started and has not been taken back yet.
  bool busy() const { return busy_; }
  /// Files in that batch.
  std::size_t size() const { return size_; }
  /// Hands `batch` over (it is left empty) and starts flushing it; only
  /// when not busy(). Without a thread (it could not be created) the batch
  /// is flushed here, and comes back through take() all the same.
  void start(CommitBatch& batch);
  /// Readable once the batch is flushed (until take()); -1 without one.
  int wake_fd() const { return wake_.get(); }
  /// The outcomes of the started batch once it is flushed, else nullopt.
  std::optional<std::vector<CommitBatch::Outcome>> take();
  /// Waits for the started batch and returns its outcomes (none if idle).
  std::vector<CommitBatch::Outcome> wait();

 private:
  void run();
  /// Under mutex_: keeps the outcomes and wakes the caller.
  void finished(std::vector<CommitBatch::Outcome> outcomes);
  std::vector<CommitBatch::Outcome> hand_back(std::unique_lock<std::mutex>& lock);

  Fd wake_;  // an eventfd: the loop polls it
  bool busy_ = false;
  std::size_t size_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  // Under mutex_: the batch to flush, its outcomes once flushed.
  std::optional<CommitBatch> pending_;
  std::optional<std::vector<CommitBatch::Outcome>> done_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ft::client
