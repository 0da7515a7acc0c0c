#include "client/local/read_ahead.hpp"

#include <algorithm>
#include <system_error>
#include <utility>

namespace ft::client {
namespace {

// Spare buffers kept by stop() for the next file's chunks.
constexpr std::size_t kMaxSpare = 1;

}  // namespace

ReadAhead::~ReadAhead() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  // The thread finishes the chunk it reads first: the source is the
  // caller's, who may close it once this returns.
  if (thread_.joinable()) thread_.join();
}

void ReadAhead::start(const SourceFile& source, std::uint64_t from, std::uint64_t end,
                      std::uint32_t chunk_size, StreamHash128 hash) {
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      // No thread: next() reads each chunk itself, as before there was one.
    }
  }
  reading_ = true;
  taken_until_ = from;
  end_ = end;
  failed_ = false;
  chunk_size_ = std::max<std::uint32_t>(chunk_size, 1);
  {
    std::lock_guard lock(mutex_);
    job_.emplace(Job{&source, from, end, chunk_size_, std::move(hash)});
    supply();
  }
  work_.notify_one();
}

std::size_t ReadAhead::chunks_ready() {
  std::lock_guard lock(mutex_);
  return chunks_.size();
}

ReadAhead::Chunk ReadAhead::next() {
  Chunk chunk;
  if (!thread_.joinable()) {
    std::lock_guard lock(mutex_);
    chunk = read_chunk(*job_, spare_buffer());
    job_->next = chunk.error.empty() ? job_->next + chunk.bytes.size() : job_->end;
    supply();
  } else {
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return !chunks_.empty(); });
      chunk = std::move(chunks_.front());
      chunks_.pop_front();
      supply();  // a buffer for the next chunk, read while this one is sent
    }
    work_.notify_one();
  }
  taken_until_ += chunk.bytes.size();
  if (!chunk.error.empty()) failed_ = true;
  return chunk;
}

void ReadAhead::truncate() {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [this] { return !busy_; });
  // A read error already queued set next to the end: the range then ends
  // with that error, as it would have.
  job_->end = job_->next;
  end_ = job_->next;
}

StreamHash128 ReadAhead::stop() {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [this] { return !busy_; });
  StreamHash128 hash = std::move(job_->hash);
  job_.reset();
  for (Chunk& chunk : chunks_) {
    if (spare_.size() < kMaxSpare && chunk.bytes.capacity() >= chunk_size_) {
      spare_.push_back(std::move(chunk.bytes));
    }
  }
  chunks_.clear();
  reading_ = false;
  return hash;
}

void ReadAhead::recycle(Bytes buffer) {
  {
    std::lock_guard lock(mutex_);
    // One more than the chunks ahead: the next() that takes a chunk then
    // finds its replacement here instead of making one.
    if (!job_ || held() > chunks_ahead() || buffer.capacity() < chunk_size_) return;
    spare_.push_back(std::move(buffer));
  }
  work_.notify_one();
}

std::size_t ReadAhead::held() const {
  return spare_.size() + chunks_.size() + (busy_ ? 1 : 0);
}

// Buffers are made on the caller's thread only: one freed there after its
// frame was written goes back to the arena it came from, where the next
// one is made (a buffer made by the thread would sit in an arena of its
// own once freed: about 2 MiB more at the peak, measured).
void ReadAhead::supply() {
  while (held() < chunks_ahead()) {
    Bytes buffer;
    buffer.reserve(chunk_size_);
    spare_.push_back(std::move(buffer));
  }
}

void ReadAhead::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] {
      return stopping_ ||
             (job_ && job_->next < job_->end && chunks_.size() < chunks_ahead() && !spare_.empty());
    });
    if (stopping_) return;
    Job& job = *job_;
    Bytes buffer = spare_buffer();
    // While busy_, stop() waits: the job (its source, its hash) stays.
    busy_ = true;
    lock.unlock();
    Chunk chunk = read_chunk(job, std::move(buffer));
    lock.lock();
    busy_ = false;
    job.next = chunk.error.empty() ? job.next + chunk.bytes.size() : job.end;
    chunks_.push_back(std::move(chunk));
    ready_.notify_all();
  }
}

ReadAhead::Chunk ReadAhead::read_chunk(Job& job, Bytes buffer) {
  const auto length =
      static_cast<std::size_t>(std::min<std::uint64_t>(job.chunk_size, job.end - job.next));
  buffer.resize(length);
  Chunk chunk;
  chunk.offset = job.next;
  if (!job.source->read_at(job.next, buffer, chunk.error)) {
    if (chunk.error.empty()) chunk.error = "read failed";
    return chunk;
  }
  // Both hashes while the chunk is still in this core's cache.
  chunk.hash = hash64(buffer);
  job.hash.update(buffer);
  chunk.bytes = std::move(buffer);
  return chunk;
}

std::size_t ReadAhead::chunks_ahead() const {
  return bytes_ahead(job_->chunk_size) / job_->chunk_size;
}

Bytes ReadAhead::spare_buffer() {
  if (spare_.empty()) return {};
  Bytes buffer = std::move(spare_.back());
  spare_.pop_back();
  return buffer;
}

}  // namespace ft::client
