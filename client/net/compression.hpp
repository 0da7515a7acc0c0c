#pragma once
// --compress on the client side (capability COMPRESS, docs/protocol.md
// section 5.15): whether this process offers it and at which zstd level,
// and what one session compresses and decompresses with.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/base/bytes.hpp"
#include "common/wire/chunk_compression.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

/// Makes every later session of this process offer COMPRESS and compress
/// the chunks it uploads at zstd `level` (--compress, --compress-level);
/// nullopt (the default) offers nothing.
void use_compression(std::optional<int> level);
/// The level use_compression() set, or nullopt.
std::optional<int> compression_level();

/// One session's zstd work, each part made on its first use: a download
/// never holds a compressor, an upload never a decompressor.
///
/// Uploaded chunks are compressed by kCompressThreads threads of the
/// session's own, a whole chunk each, while the caller reads and hashes the
/// next one: start() hands a chunk over, finish() gives the oldest back,
/// so chunks come back in the order they were started.
class SessionCompression {
 public:
  /// Threads compressing, and chunks started but not yet finished: zstd at
  /// level 1 is ftsend's bottleneck (about 2 ms of CPU per MiB of text,
  /// docs/performance.md "Compression"), so both cores of a small machine
  /// work on it while the caller reads the chunk after. One chunk more
  /// than threads waits its turn, so that a thread that finishes one finds
  /// the next at once rather than after the caller took the frame.
  static constexpr int kCompressThreads = 2;
  static constexpr std::size_t kChunksInFlight = kCompressThreads + 1;

  SessionCompression();
  ~SessionCompression();  // stops and joins the threads
  SessionCompression(const SessionCompression&) = delete;
  SessionCompression& operator=(const SessionCompression&) = delete;
  SessionCompression(SessionCompression&&) noexcept = default;
  SessionCompression& operator=(SessionCompression&&) noexcept = default;

  /// Hands `chunk` to a thread that compresses it at compression_level().
  /// Only while in_flight() < kChunksInFlight: finish() the oldest first.
  void start(Bytes chunk);
  /// Chunks started and not yet finished.
  std::size_t in_flight() const { return in_flight_; }
  /// True when finish() would not wait: the oldest chunk is compressed
  /// (or found not worth it). False when none is in flight.
  bool oldest_done() const;
  /// Waits for the oldest chunk started and gives it back in `chunk`,
  /// replaced by its zstd frame (true) when that is worth sending
  /// (ChunkCompressor::compress), as it was (false) otherwise.
  bool finish(Bytes& chunk);

  /// The length of the chunk a DATA stands for: its bytes, or for a
  /// compressed one the size its zstd frame declares (read from the frame
  /// header; nothing is decompressed). Nullopt, a protocol error, for a
  /// compressed DATA when COMPRESS was not `agreed` or that declares no
  /// size.
  static std::optional<std::uint64_t> chunk_length(const DataView& data, bool agreed);
  /// Decompresses a compressed DATA's bytes into exactly `length` bytes
  /// (chunk_length(), which the caller checked against the chunk size and
  /// what remains) and points `data.bytes` at them, held until the next
  /// call: "" or why the DATA is a protocol error.
  std::string inflate(DataView& data, std::size_t length);

 private:
  struct Workers;
  std::unique_ptr<Workers> workers_;
  std::size_t in_flight_ = 0;
  std::unique_ptr<ChunkDecompressor> decompressor_;
  Bytes plain_;  // inflate(): the chunk
};

}  // namespace ft::client
