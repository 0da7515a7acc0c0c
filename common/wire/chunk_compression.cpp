#include "common/wire/chunk_compression.hpp"

#define ZSTD_STATIC_LINKING_ONLY  // the size estimates (stable since zstd 1.4)
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

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

ChunkCompressor::ChunkCompressor(int level, int workers)
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
  if (workers > 0 &&
      !ZSTD_isError(ZSTD_CCtx_setParameter(context_->cctx, ZSTD_c_nbWorkers, workers))) {
    ZSTD_CCtx_setParameter(context_->cctx, ZSTD_c_jobSize, kWorkerJobSize);
    workers_ = true;
  }
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

void ChunkCompressor::start(ByteSpan chunk) {
  started_ = chunk;
  if (!workers_ || chunk.empty()) return;
  // The frame declares its content size only if it is pledged first.
  ZSTD_CCtx_reset(context_->cctx, ZSTD_reset_session_only);
  ZSTD_CCtx_setPledgedSrcSize(context_->cctx, chunk.size());
  // With workers, a call that takes input hands it to them and returns
  // without waiting (zstd waits only in a call that can take no more):
  // feed the chunk in, then leave them to it.
  ZSTD_inBuffer in{chunk.data(), chunk.size(), 0};
  ZSTD_outBuffer none{nullptr, 0, 0};
  while (in.pos < in.size) {
    const std::size_t before = in.pos;
    if (ZSTD_isError(ZSTD_compressStream2(context_->cctx, &none, &in, ZSTD_e_end))) break;
    if (in.pos == before) break;  // the rest goes in finish()
  }
  started_fed_ = in.pos;
}

bool ChunkCompressor::finish(Bytes& out) {
  const ByteSpan chunk = std::exchange(started_, ByteSpan());
  if (!workers_ || chunk.empty()) return compress(chunk, out);
  const std::size_t limit = chunk.size() - chunk.size() / 32;
  out.resize(std::max<std::size_t>(limit, 1));
  ZSTD_outBuffer dst{out.data(), limit, 0};
  // start() fed the whole chunk unless zstd's buffers were full: the rest
  // of it, then the frame as the workers finish it.
  ZSTD_inBuffer in{chunk.data(), chunk.size(), started_fed_};
  std::size_t left = 1;
  for (;;) {
    left = ZSTD_compressStream2(context_->cctx, &dst, &in, ZSTD_e_end);
    if (ZSTD_isError(left) || left == 0 || dst.pos == dst.size) break;
  }
  if (ZSTD_isError(left) || left != 0 || dst.pos >= limit) {
    // Not worth it (or failed): the frame is abandoned mid-way.
    ZSTD_CCtx_reset(context_->cctx, ZSTD_reset_session_only);
    return false;
  }
  out.resize(dst.pos);
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
