#pragma once
// Reads a source file ahead of the socket on a thread of its own: ftsend's
// one thread used to read and hash every chunk between two writes, so the
// socket drained while it did (docs/performance.md, "ftsend's read-ahead").
// The thread reads the chunks of one range of one file in order, hashes
// each (its XXH3-64 for the DATA frame) and continues the file's XXH3-128
// with it, and keeps up to a budget of chunks ready; the caller takes them
// in file order with next(), waiting only when none is ready yet.
//
// Ownership: between start() and stop() the source belongs to the thread
// for reading (SourceFile::read_at() is a pread(), so the caller may still
// fstat() it) and must stay open; the hash given to start() belongs to the
// thread until stop() gives it back.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/local/source_file.hpp"
#include "common/base/bytes.hpp"
#include "common/crypto/checksum.hpp"

namespace ft::client {

class ReadAhead {
 public:
  /// Bytes read ahead of the caller at most, counting the chunk being read
  /// (at least one chunk): one default chunk, read while the send queue is
  /// written. With a key ftsend peaks at 14.5 MiB without a read-ahead,
  /// against a bound of 16 MiB: there is no room for more.
  static constexpr std::size_t kBytesAhead = 1024 * 1024;
  /// What that is in whole chunks of `chunk_size`.
  static std::size_t bytes_ahead(std::uint32_t chunk_size) {
    const std::size_t chunk = std::max<std::uint32_t>(chunk_size, 1);
    return std::max<std::size_t>(1, kBytesAhead / chunk) * chunk;
  }

  /// One chunk, in file order. With `error` set (why the read failed, or
  /// the file ended early) `bytes` is empty and no chunk follows.
  struct Chunk {
    std::uint64_t offset = 0;
    Bytes bytes;
    std::uint64_t hash = 0;  // XXH3-64 of bytes
    std::string error;
  };

  ReadAhead() = default;
  /// Waits for the read in progress, if any, and ends the thread.
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  /// Starts reading bytes [from, end) of `source` in chunks of `chunk_size`
  /// (the last one shorter), continuing `hash`, which holds bytes
  /// [0, from), with each. Only when not reading(). The thread is made on
  /// the first start(); without one (it could not be made) next() reads.
  void start(const SourceFile& source, std::uint64_t from, std::uint64_t end,
             std::uint32_t chunk_size, StreamHash128 hash);
  /// Between start() and stop().
  bool reading() const { return reading_; }
  /// The offset of the chunk next() gives next (only while reading()).
  std::uint64_t next_offset() const { return taken_until_; }
  /// True when every chunk was given (or an error ended the range).
  bool done() const { return reading_ && (taken_until_ == end_ || failed_); }
  /// Chunks read and not yet given (at most bytes_ahead() of them).
  std::size_t chunks_ready();
  /// Waits for the next chunk of the range and gives it; only while
  /// reading() and not done().
  Chunk next();
  /// Reads no further than what is read already (waiting for the read in
  /// progress): done() once those chunks are given, the range ending there.
  /// Then stop() gives the hash of exactly what next() gave.
  void truncate();
  /// Stops reading: waits for the read in progress, drops the chunks not
  /// given, and gives back the hash. Once done(), the hash covers bytes
  /// [0, next_offset()) of the source; otherwise it is only fit for reset().
  StreamHash128 stop();
  /// Hands a spent chunk buffer back for a later chunk (kept only while
  /// none is spare, and if it holds a chunk without growing).
  void recycle(Bytes buffer);

 private:
  // What the thread reads, under mutex_ (but `hash`, only the thread's
  // while a job is set).
  struct Job {
    const SourceFile* source = nullptr;
    std::uint64_t next = 0;  // the next offset to read
    std::uint64_t end = 0;
    std::uint32_t chunk_size = 0;
    StreamHash128 hash;
  };
  void run();
  /// Reads and hashes the chunk at job.next (the thread, or next() without
  /// one).
  static Chunk read_chunk(Job& job, Bytes buffer);
  std::size_t chunks_ahead() const;
  Bytes spare_buffer();  // under mutex_
  /// Under mutex_, on the caller's thread: makes spare buffers until the
  /// thread holds one for each chunk it may read ahead.
  void supply();
  /// Under mutex_: buffers the thread holds (spare, read, being read).
  std::size_t held() const;

  bool reading_ = false;  // the caller's view
  std::uint64_t taken_until_ = 0;
  std::uint64_t end_ = 0;
  bool failed_ = false;
  std::uint32_t chunk_size_ = 1;

  std::mutex mutex_;
  std::condition_variable work_;   // a job was set, a chunk taken, or stopping
  std::condition_variable ready_;  // a chunk was read, or the read in progress ended
  std::optional<Job> job_;
  std::deque<Chunk> chunks_;  // read, not yet given
  std::vector<Bytes> spare_;
  bool busy_ = false;  // the thread reads outside the lock
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ft::client
