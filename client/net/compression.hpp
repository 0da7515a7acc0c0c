#pragma once
// --compress on the client side (capability COMPRESS, docs/protocol.md
// section 5.15): whether this process offers it and at which zstd level,
// and what one session compresses and decompresses with.
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

/// One session's zstd contexts, each made on its first use: a download
/// never holds a compressor, an upload never a decompressor.
class SessionCompression {
 public:
  /// Compresses `chunk` at compression_level() in two halves
  /// (ChunkCompressor::start/finish), so that the caller reads and hashes
  /// the next chunk while zstd's threads compress this one: start() takes
  /// and keeps `chunk`; finish() gives it back in `chunk`, replaced by its
  /// frame (true) when that is worth sending.
  void start(Bytes chunk);
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
  std::unique_ptr<ChunkCompressor> compressor_;
  std::unique_ptr<ChunkDecompressor> decompressor_;
  ChunkCompressor& compressor();
  Bytes out_;    // finish(): the frame, then an old chunk's buffer
  Bytes held_;   // start(): the chunk being compressed
  Bytes plain_;  // inflate(): the chunk
};

}  // namespace ft::client
