#pragma once
// zstd for DATA chunks (capability COMPRESS, docs/protocol.md section
// 5.15). One chunk is one
// zstd frame carrying its content size; the receiver decompresses it into a
// buffer of exactly the size the sender declared and checks the result
// against the chunk's XXH3-64 of the uncompressed bytes, as for a plain
// chunk. A chunk that does not shrink by at least 1/32 is sent as it is, so
// random data costs only the attempt.
//
// Both contexts are made once and reused for every chunk (zstd's contexts
// are large: their sizes are context_bytes(), for the memory accounting).
// The decompressor never allocates a window: single-shot decompression
// into a flat buffer uses the buffer itself.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/base/bytes.hpp"

namespace ft {

/// zstd levels --compress-level accepts: negative levels trade ratio for
/// speed (zstd --fast=N), 19 is the slowest useful one.
inline constexpr int kMinCompressLevel = -7;
inline constexpr int kMaxCompressLevel = 19;
inline constexpr int kDefaultCompressLevel = 1;

class ChunkCompressor {
 public:
  /// Compresses in the caller's thread; ftsend runs several, one per
  /// thread of its own (client/net/compression.hpp).
  explicit ChunkCompressor(int level);
  ~ChunkCompressor();
  ChunkCompressor(const ChunkCompressor&) = delete;
  ChunkCompressor& operator=(const ChunkCompressor&) = delete;

  int level() const { return level_; }
  /// Compresses `chunk` into `out` (resized to the frame). Returns false
  /// when the chunk is better sent as it is (it did not shrink by 1/32, or
  /// is empty); `out` then holds nothing useful.
  bool compress(ByteSpan chunk, Bytes& out);
  /// What a context for `level` and chunks of up to `chunk_size` bytes
  /// holds once it has compressed one (an estimate from zstd itself).
  static std::size_t context_bytes(int level, std::size_t chunk_size);

 private:
  int level_;
  struct Context;
  std::unique_ptr<Context> context_;
};

class ChunkDecompressor {
 public:
  ChunkDecompressor();
  ~ChunkDecompressor();
  ChunkDecompressor(const ChunkDecompressor&) = delete;
  ChunkDecompressor& operator=(const ChunkDecompressor&) = delete;

  /// Decompresses the zstd frame `payload` into `out`, whose size is the
  /// size the sender declared. Returns "" on success, else why the payload
  /// is a protocol error: not one whole zstd frame, a content size other
  /// than declared (missing, smaller, or larger: a zip bomb stops at the
  /// declared size, never writing past `out`), or corrupted data.
  std::string decompress(ByteSpan payload, std::span<std::uint8_t> out);
  /// What a context holds (zstd's estimate; no window: see above).
  static std::size_t context_bytes();
  /// The content size the zstd frame at the start of `payload` declares,
  /// read from its header alone (nothing is decompressed); nullopt if
  /// `payload` does not start with a zstd frame header declaring one.
  static std::optional<std::uint64_t> declared_size(ByteSpan payload);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

/// Turns the payload of a compressed DATA frame (offset, hash, zstd frame)
/// into the payload of the plain DATA it stands for (offset, hash, chunk),
/// in `out`: `declared` is the frame's declared_size(), which the caller
/// checked against the chunk size and what remains of the file. Returns ""
/// or why the payload is a protocol error. The hash is not checked here.
std::string inflate_data_payload(ChunkDecompressor& decompressor, ByteSpan payload,
                                 std::size_t declared, Bytes& out);

}  // namespace ft
