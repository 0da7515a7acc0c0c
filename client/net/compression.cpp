#include "client/net/compression.hpp"

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace ft::client {
namespace {

std::optional<int>& level_setting() {
  static std::optional<int> level;
  return level;
}

}  // namespace

void use_compression(std::optional<int> level) {
  level_setting() = level;
}

std::optional<int> compression_level() {
  return level_setting();
}

// The compression threads and their queue. Each thread owns one zstd
// context and compresses whole chunks with it: two chunks compressed side
// by side cost less than one split between zstd's own workers (no job
// buffers to copy the chunk into, no overlap compressed twice, no wait for
// the slower half), and the frame is the one a single thread makes.
struct SessionCompression::Workers {
  struct Job {
    Bytes chunk;
    Bytes frame;
    bool taken = false;  // a thread compresses it
    bool done = false;
    bool compressed = false;
  };

  explicit Workers(int level) {
    // The contexts are made here, on the caller's thread, so that a failed
    // allocation throws where it can be handled.
    for (auto& compressor : compressors) compressor = std::make_unique<ChunkCompressor>(level);
    try {
      for (auto& compressor : compressors) {
        threads.emplace_back([this, c = compressor.get()] { run(*c); });
      }
    } catch (...) {
      stop();  // a joinable thread destroyed would end the process
      throw;
    }
  }

  ~Workers() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    work.notify_all();
    for (std::thread& thread : threads) thread.join();
    threads.clear();
  }

  Job* next_job() {
    for (auto& job : jobs) {
      if (!job->taken) return job.get();
    }
    return nullptr;
  }

  void run(ChunkCompressor& compressor) {
    std::unique_lock lock(mutex);
    for (;;) {
      work.wait(lock, [&] { return stopping || next_job() != nullptr; });
      if (stopping) return;
      Job& job = *next_job();
      job.taken = true;
      lock.unlock();
      // The caller touches neither buffer until `done`: no lock needed.
      try {
        job.compressed = compressor.compress(job.chunk, job.frame);
      } catch (const std::bad_alloc&) {
        job.compressed = false;  // the chunk goes as it is
      }
      lock.lock();
      job.done = true;
      finished.notify_all();
    }
  }

  std::array<std::unique_ptr<ChunkCompressor>, kCompressThreads> compressors;
  std::mutex mutex;
  std::condition_variable work;           // a job was queued, or stopping
  std::condition_variable finished;       // a job is done
  std::deque<std::unique_ptr<Job>> jobs;  // in the order started
  bool stopping = false;
  std::vector<std::thread> threads;
  std::vector<Bytes> spare_frames;  // the caller's only: buffers for frames
};

SessionCompression::SessionCompression() = default;
SessionCompression::~SessionCompression() = default;

void SessionCompression::start(Bytes chunk) {
  if (!workers_) {
    workers_ = std::make_unique<Workers>(compression_level().value_or(kDefaultCompressLevel));
  }
  auto job = std::make_unique<Workers::Job>();
  job->chunk = std::move(chunk);
  if (!workers_->spare_frames.empty()) {
    job->frame = std::move(workers_->spare_frames.back());
    workers_->spare_frames.pop_back();
  }
  {
    std::lock_guard lock(workers_->mutex);
    workers_->jobs.push_back(std::move(job));
  }
  workers_->work.notify_one();
  ++in_flight_;
}

bool SessionCompression::oldest_done() const {
  if (in_flight_ == 0) return false;
  std::lock_guard lock(workers_->mutex);
  return workers_->jobs.front()->done;
}

bool SessionCompression::finish(Bytes& chunk) {
  std::unique_ptr<Workers::Job> job;
  {
    std::unique_lock lock(workers_->mutex);
    workers_->finished.wait(lock, [&] { return workers_->jobs.front()->done; });
    job = std::move(workers_->jobs.front());
    workers_->jobs.pop_front();
  }
  --in_flight_;
  // The frame goes out and the plain chunk's buffer holds a later frame,
  // or the chunk goes out as it is.
  chunk = std::move(job->compressed ? job->frame : job->chunk);
  Bytes spare = std::move(job->compressed ? job->chunk : job->frame);
  if (spare.capacity() > 0 && workers_->spare_frames.size() < kChunksInFlight) {
    workers_->spare_frames.push_back(std::move(spare));
  }
  return job->compressed;
}

std::optional<std::uint64_t> SessionCompression::chunk_length(const DataView& data, bool agreed) {
  if (!data.compressed) return data.bytes.size();
  if (!agreed) return std::nullopt;
  auto declared = ChunkDecompressor::declared_size(data.bytes);
  if (!declared || *declared == 0) return std::nullopt;
  return declared;
}

std::string SessionCompression::inflate(DataView& data, std::size_t length) {
  if (!decompressor_) decompressor_ = std::make_unique<ChunkDecompressor>();
  plain_.resize(length);
  std::string why = decompressor_->decompress(data.bytes, plain_);
  if (!why.empty()) return why;
  data.bytes = plain_;
  data.compressed = false;
  return {};
}

}  // namespace ft::client
