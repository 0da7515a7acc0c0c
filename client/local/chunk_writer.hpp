#pragma once
// Writes downloaded chunks to their partial files on a thread of its own,
// so that ftget receives and hashes the next chunk while the last one is
// written. ftget did all of it on its only thread, which was busy for the
// whole of a medium-file download while ftserve left the other core half
// idle (docs/performance.md, "ftget's writer thread").
//
// The caller verified each chunk before handing it over; the writer keeps
// the order of the chunks it is given. What it was given (the file, the
// failure) stays the writer's until drain() returns: the caller drains
// before it reads or writes the file itself, or closes it.
// At most kMaxQueuedBytes wait at a time: write() blocks beyond that (the
// socket is then not read, and TCP slows the server down). The thread is a
// batch thread (common/os/thread_policy.hpp): handing it a chunk does not
// cost the receiving thread its core.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/local/landing_file.hpp"
#include "common/base/bytes.hpp"

namespace ft::client {

class ChunkWriter {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 2 * 1024 * 1024;

  ChunkWriter() = default;
  /// Writes what is queued, then ends the thread.
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  /// Queues `bytes` (a view into `buffer`, which the writer owns from now
  /// on) to be written at `offset` of `file`. If
  /// writing fails, `failure` gets the reason and later chunks with the
  /// same `failure` are dropped. Blocks while kMaxQueuedBytes are queued.
  /// Without a thread (it could not be created) writes here.
  void write(LandingFile& file, std::uint64_t offset, Bytes buffer, ByteSpan bytes,
             std::string& failure);
  /// Waits until every queued chunk is written (or dropped): the files,
  /// and failures given to write() are the caller's again.
  void drain();
  /// True if a chunk given with `failure` could not be written; the reason
  /// may be read once drain() returned.
  bool failed(const std::string& failure);
  /// Moves the buffers of written chunks into `spent`, for reuse.
  void take_spent(std::vector<Bytes>& spent);

 private:
  struct Job {
    LandingFile* file;
    std::uint64_t offset;
    Bytes buffer;
    ByteSpan bytes;
    std::string* failure;
  };
  void run();
  /// Writes one chunk; false with `why` if the write failed.
  static bool perform(Job& job, std::string& why);

  std::mutex mutex_;
  std::condition_variable changed_;
  // Under mutex_: chunks to write (the front one may be being written),
  // their bytes, the buffers written, whether the thread should end.
  // no_thread_ and thread_ are the caller's thread's.
  std::deque<Job> queue_;
  std::size_t queued_bytes_ = 0;
  std::vector<Bytes> spent_;
  bool stopping_ = false;
  bool no_thread_ = false;
  std::thread thread_;
};

}  // namespace ft::client
