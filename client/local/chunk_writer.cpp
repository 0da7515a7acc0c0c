#include "client/local/chunk_writer.hpp"

#include <exception>
#include <system_error>
#include <utility>

#include "common/os/thread_policy.hpp"

namespace ft::client {

ChunkWriter::~ChunkWriter() {
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  // The thread writes what is queued first: the files belong to the
  // caller, who may close them once this returns.
  if (thread_.joinable()) thread_.join();
}

bool ChunkWriter::perform(Job& job, std::string& why) {
  return job.file->write_at(job.offset, job.bytes, why);
}

void ChunkWriter::write(LandingFile& file, std::uint64_t offset, Bytes buffer, ByteSpan bytes,
                        std::string& failure) {
  Job job{&file, offset, std::move(buffer), bytes, &failure};
  if (!thread_.joinable() && !no_thread_) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      no_thread_ = true;  // written here, as before there was a writer
    }
  }
  if (no_thread_) {
    if (failure.empty()) {
      std::string why;
      if (!perform(job, why)) failure = why.empty() ? "cannot write" : why;
    }
    spent_.push_back(std::move(job.buffer));
    return;
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this, &bytes] {
    return queue_.empty() || queued_bytes_ + bytes.size() <= kMaxQueuedBytes;
  });
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(job));
  lock.unlock();
  changed_.notify_all();
}

void ChunkWriter::run() {
  // ftget's main thread receives, decrypts and hashes while this one
  // writes. Woken for each chunk, the writer used to take the main
  // thread's core from it on the spot; as a batch thread it runs on the
  // other core or once the main thread waits (a keyed 1 GiB download
  // about 10 % faster, docs/performance.md).
  (void)run_as_batch_thread();
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and nothing left to write
    Job& job = queue_.front();
    // Another chunk of a file that failed is dropped: its partial data is
    // removed by the caller.
    const bool skip = !job.failure->empty();
    lock.unlock();
    std::string why;
    bool written = skip;
    try {
      written = written || perform(job, why);
    } catch (const std::exception& e) {
      // Nothing may leave the thread's function: the file fails instead.
      why = e.what();
    }
    lock.lock();
    if (!written) *job.failure = why.empty() ? "cannot write" : why;
    queued_bytes_ -= job.bytes.size();
    spent_.push_back(std::move(job.buffer));
    queue_.pop_front();
    changed_.notify_all();
  }
}

void ChunkWriter::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return queue_.empty(); });
}

bool ChunkWriter::failed(const std::string& failure) {
  std::unique_lock lock(mutex_);
  return !failure.empty();
}

void ChunkWriter::take_spent(std::vector<Bytes>& spent) {
  std::unique_lock lock(mutex_);
  for (Bytes& buffer : spent_) spent.push_back(std::move(buffer));
  spent_.clear();
}

}  // namespace ft::client
