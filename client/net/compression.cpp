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

bool SessionCompression::compress(Bytes& chunk) {
  if (!compressor_) {
    // Two zstd threads: while they compress a chunk's halves the client
    // waits, so an upload uses two cores for what is its bottleneck on a
    // 1 GbE link (docs/performance.md "Compression").
    compressor_ = std::make_unique<ChunkCompressor>(
        compression_level().value_or(kDefaultCompressLevel), kCompressWorkers);
  }
  if (!compressor_->compress(chunk, out_)) return false;
  std::swap(chunk, out_);
  return true;
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
