#include "client/net/compression.hpp"

#include <utility>

namespace ft::client {
namespace {

constexpr int kCompressWorkers = 2;

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

ChunkCompressor& SessionCompression::compressor() {
  if (!compressor_) {
    // Two zstd threads compress a chunk's halves while the client's one
    // thread reads and hashes the next chunk (start/finish): compression
    // is an upload's bottleneck on a 1 GbE link (docs/performance.md
    // "Compression").
    compressor_ = std::make_unique<ChunkCompressor>(
        compression_level().value_or(kDefaultCompressLevel), kCompressWorkers);
  }
  return *compressor_;
}

void SessionCompression::start(Bytes chunk) {
  held_ = std::move(chunk);
  compressor().start(held_);
}

bool SessionCompression::finish(Bytes& chunk) {
  const bool compressed = compressor().finish(out_);
  // The frame goes out and the plain chunk's buffer is the next frame's,
  // or the chunk goes out as it is.
  chunk = std::move(compressed ? out_ : held_);
  if (compressed) out_ = std::move(held_);
  held_ = Bytes();
  return compressed;
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
