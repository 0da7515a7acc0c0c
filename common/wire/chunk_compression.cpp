#include "common/wire/chunk_compression.hpp"

#define ZSTD_STATIC_LINKING_ONLY  // the size estimates (stable since zstd 1.4)
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "common/base/limits.hpp"

namespace ft {

struct ChunkCompressor::Context {
  ZSTD_CCtx* cctx = nullptr;
  ~Context() { ZSTD_freeCCtx(cctx); }
};

struct ChunkDecompressor::Context {
  ZSTD_DCtx* dctx = nullptr;
  ~Context() { ZSTD_freeDCtx(dctx); }
};

ChunkCompressor::ChunkCompressor(int level)
    : level_(std::clamp(level, kMinCompressLevel, kMaxCompressLevel)),
      context_(std::make_unique<Context>()) {
  context_->cctx = ZSTD_createCCtx();
  if (context_->cctx == nullptr) throw std::bad_alloc();
  // The content size goes into every frame: the receiver checks it against
  // the declared size before decompressing a byte. No checksum: the chunk's
  // XXH3-64 already covers the result.
  ZSTD_CCtx_setParameter(context_->cctx, ZSTD_c_compressionLevel, level_);
  ZSTD_CCtx_setParameter(context_->cctx, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(context_->cctx, ZSTD_c_checksumFlag, 0);
}

ChunkCompressor::~ChunkCompressor() = default;

bool ChunkCompressor::compress(ByteSpan chunk, Bytes& out) {
  if (chunk.empty()) return false;
  // Worth sending only if it saves 1/32 (3 %); zstd stops as soon as the
  // output does not fit, so incompressible data costs little more than a
  // pass over it.
  const std::size_t limit = chunk.size() - chunk.size() / 32;
  out.resize(std::max<std::size_t>(limit, 1));
  const std::size_t n =
      ZSTD_compress2(context_->cctx, out.data(), out.size(), chunk.data(), chunk.size());
  if (ZSTD_isError(n) || n >= limit) {
    // The context may be mid-frame after dstSize_tooSmall: start afresh.
    ZSTD_CCtx_reset(context_->cctx, ZSTD_reset_session_only);
    return false;
  }
  out.resize(n);
  return true;
}

std::size_t ChunkCompressor::context_bytes(int level, std::size_t chunk_size) {
  const ZSTD_compressionParameters params =
      ZSTD_getCParams(std::clamp(level, kMinCompressLevel, kMaxCompressLevel), chunk_size, 0);
  return ZSTD_estimateCCtxSize_usingCParams(params);
}

ChunkDecompressor::ChunkDecompressor() : context_(std::make_unique<Context>()) {
  context_->dctx = ZSTD_createDCtx();
  if (context_->dctx == nullptr) throw std::bad_alloc();
}

ChunkDecompressor::~ChunkDecompressor() = default;

std::string ChunkDecompressor::decompress(ByteSpan payload, std::span<std::uint8_t> out) {
  // The frame must be exactly the payload: one frame, nothing after it.
  const std::size_t frame = ZSTD_findFrameCompressedSize(payload.data(), payload.size());
  if (ZSTD_isError(frame)) return "compressed chunk is not a zstd frame";
  if (frame != payload.size()) return "compressed chunk has bytes after its zstd frame";
  const unsigned long long content = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR) {
    return "compressed chunk does not declare its size";
  }
  if (content != out.size()) {
    return "compressed chunk holds " + std::to_string(content) + " bytes, not the declared " +
           std::to_string(out.size());
  }
  // dstCapacity is the declared size: zstd refuses (dstSize_tooSmall) to
  // write one byte more, whatever the frame's blocks say.
  const std::size_t n =
      ZSTD_decompressDCtx(context_->dctx, out.data(), out.size(), payload.data(), payload.size());
  if (ZSTD_isError(n)) {
    ZSTD_DCtx_reset(context_->dctx, ZSTD_reset_session_only);
    return std::string("compressed chunk does not decompress: ") + ZSTD_getErrorName(n);
  }
  if (n != out.size()) return "compressed chunk decompresses short of its declared size";
  return {};
}

std::size_t ChunkDecompressor::context_bytes() {
  return ZSTD_estimateDCtxSize();
}

std::optional<std::uint64_t> ChunkDecompressor::declared_size(ByteSpan payload) {
  const unsigned long long content = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR) return std::nullopt;
  return content;
}

std::string inflate_data_payload(ChunkDecompressor& decompressor, ByteSpan payload,
                                 std::size_t declared, Bytes& out) {
  if (payload.size() <= limits::kDataPrefixSize) return "compressed chunk is empty";
  out.resize(limits::kDataPrefixSize + declared);
  std::memcpy(out.data(), payload.data(), limits::kDataPrefixSize);
  return decompressor.decompress(payload.subspan(limits::kDataPrefixSize),
                                 std::span<std::uint8_t>(out).subspan(limits::kDataPrefixSize));
}

}  // namespace ft
