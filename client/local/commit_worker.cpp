#include "client/local/commit_worker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <system_error>
#include <utility>

namespace ft::client {

CommitWorker::CommitWorker() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

CommitWorker::~CommitWorker() {
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  // The thread finishes the batch it holds first: its files belong to the
  // caller, who may free them once this returns.
  if (thread_.joinable()) thread_.join();
}

void CommitWorker::start(CommitBatch& batch) {
  busy_ = true;
  size_ = batch.size();
  CommitBatch taken = std::move(batch);
  batch = CommitBatch();
  if (!thread_.joinable() && wake_) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      // No thread: flushed below, as before there was a worker.
    }
  }
  if (!thread_.joinable()) {
    auto outcomes = taken.flush();
    std::unique_lock lock(mutex_);
    finished(std::move(outcomes));
    return;
  }
  {
    std::unique_lock lock(mutex_);
    pending_ = std::move(taken);
  }
  changed_.notify_all();
}

void CommitWorker::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return pending_ || stopping_; });
    if (!pending_) return;  // stopping, and nothing left to flush
    CommitBatch batch = std::move(*pending_);
    pending_.reset();
    lock.unlock();
    auto outcomes = batch.flush();
    lock.lock();
    finished(std::move(outcomes));
  }
}

void CommitWorker::finished(std::vector<CommitBatch::Outcome> outcomes) {
  done_ = std::move(outcomes);
  changed_.notify_all();
  if (!wake_) return;
  // Written under the lock, so that hand_back() reads it back. Nonblocking:
  // a full counter (never, with one batch at a time) is readable anyway.
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

std::vector<CommitBatch::Outcome> CommitWorker::hand_back(std::unique_lock<std::mutex>& lock) {
  auto outcomes = std::move(*done_);
  done_.reset();
  if (wake_) {
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &count, sizeof count);
  }
  lock.unlock();
  busy_ = false;
  size_ = 0;
  return outcomes;
}

std::optional<std::vector<CommitBatch::Outcome>> CommitWorker::take() {
  if (!busy_) return std::nullopt;
  std::unique_lock lock(mutex_);
  if (!done_) return std::nullopt;
  return hand_back(lock);
}

std::vector<CommitBatch::Outcome> CommitWorker::wait() {
  if (!busy_) return {};
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return done_.has_value(); });
  return hand_back(lock);
}

}  // namespace ft::client
