// zstd for DATA chunks (common/wire/chunk_compression): round trips, the
// "not worth it" rule for incompressible chunks, and every way a payload
// from a hostile peer is refused, the zip bomb first.
#include "common/wire/chunk_compression.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <random>
#include <string>

namespace ft {
namespace {

Bytes text_chunk(std::size_t size) {
  // Log-like lines with varying numbers: compressible, not trivially so.
  std::mt19937 random(14);
  std::string text;
  while (text.size() < size) {
    text += "2026-12-06T08:32:11Z web-" + std::to_string(random() % 24) + " GET /api/v1/items/" +
            std::to_string(random() % 100000) + " 200 ms=" + std::to_string(random() % 300) + "\n";
  }
  return Bytes(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(size));
}

Bytes random_chunk(std::size_t size) {
  std::mt19937 random(7);
  Bytes bytes(size);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
  return bytes;
}

TEST(ChunkCompression, TextRoundTripsAndShrinks) {
  ChunkCompressor compressor(kDefaultCompressLevel);
  ChunkDecompressor decompressor;
  const Bytes chunk = text_chunk(1024 * 1024);
  Bytes frame;
  ASSERT_TRUE(compressor.compress(chunk, frame));
  EXPECT_LT(frame.size(), chunk.size() / 2);
  Bytes back(chunk.size());
  EXPECT_EQ(decompressor.decompress(frame, back), "");
  EXPECT_EQ(back, chunk);
}

TEST(ChunkCompression, ContextsAreReusedAcrossChunksAndLevels) {
  ChunkDecompressor decompressor;
  for (int level : {kMinCompressLevel, -1, 1, 3, 9}) {
    ChunkCompressor compressor(level);
    for (std::size_t size : {std::size_t{1}, std::size_t{4096}, std::size_t{300000}}) {
      const Bytes chunk = text_chunk(size);
      Bytes frame;
      if (!compressor.compress(chunk, frame)) continue;  // tiny chunks may not shrink
      Bytes back(chunk.size());
      EXPECT_EQ(decompressor.decompress(frame, back), "") << level << " " << size;
      EXPECT_EQ(back, chunk);
    }
  }
}

TEST(ChunkCompression, AContextServesChunksAfterARefusal) {
  // ftsend's threads each keep one context for every chunk they are given:
  // after a random chunk is refused mid-frame, the next text chunk is
  // still one whole frame declaring its size, whatever the sizes.
  ChunkCompressor compressor(kDefaultCompressLevel);
  ChunkDecompressor decompressor;
  for (std::size_t size : {std::size_t{4096}, std::size_t{600 * 1024}, std::size_t{4 << 20}}) {
    for (bool text : {true, false, true}) {
      const Bytes chunk = text ? text_chunk(size) : random_chunk(size);
      Bytes frame;
      const bool compressed = compressor.compress(chunk, frame);
      EXPECT_EQ(compressed, text) << size;
      if (!compressed) continue;
      EXPECT_EQ(ChunkDecompressor::declared_size(frame), chunk.size());
      Bytes back(chunk.size());
      EXPECT_EQ(decompressor.decompress(frame, back), "") << size;
      EXPECT_EQ(back, chunk);
    }
  }
}

TEST(ChunkCompression, IncompressibleAndEmptyChunksGoAsTheyAre) {
  ChunkCompressor compressor(kDefaultCompressLevel);
  Bytes frame;
  EXPECT_FALSE(compressor.compress(random_chunk(1024 * 1024), frame));
  EXPECT_FALSE(compressor.compress(Bytes{}, frame));
  // The context is usable after a refusal.
  const Bytes chunk = text_chunk(65536);
  ASSERT_TRUE(compressor.compress(chunk, frame));
  ChunkDecompressor decompressor;
  Bytes back(chunk.size());
  EXPECT_EQ(decompressor.decompress(frame, back), "");
  EXPECT_EQ(back, chunk);
}

class HostilePayload : public ::testing::Test {
 protected:
  void SetUp() override {
    chunk_ = text_chunk(256 * 1024);
    ASSERT_TRUE(ChunkCompressor(kDefaultCompressLevel).compress(chunk_, frame_));
  }
  // Decompresses into a buffer of `declared` bytes followed by canaries,
  // and checks that no canary changed.
  std::string decompress(ByteSpan payload, std::size_t declared) {
    Bytes out(declared + 4096, 0xA5);
    std::string why = decompressor_.decompress(payload, std::span(out.data(), declared));
    for (std::size_t i = declared; i < out.size(); ++i) {
      EXPECT_EQ(out[i], 0xA5) << "written past the declared size at " << i;
    }
    return why;
  }
  Bytes chunk_;
  Bytes frame_;
  ChunkDecompressor decompressor_;
};

TEST_F(HostilePayload, ABombLargerThanDeclaredIsRefused) {
  EXPECT_NE(decompress(frame_, chunk_.size() - 1), "");
  EXPECT_NE(decompress(frame_, 100), "");
  EXPECT_NE(decompress(frame_, 0), "");
}

TEST_F(HostilePayload, ADeclaredSizeLargerThanTheContentIsRefused) {
  EXPECT_NE(decompress(frame_, chunk_.size() + 1), "");
}

TEST_F(HostilePayload, NotOneWholeFrameIsRefused) {
  EXPECT_NE(decompress(ByteSpan(frame_).first(frame_.size() - 1), chunk_.size()), "");
  Bytes twice = frame_;
  twice.insert(twice.end(), frame_.begin(), frame_.end());
  EXPECT_NE(decompress(twice, chunk_.size()), "");
  Bytes trailing = frame_;
  trailing.push_back(0);
  EXPECT_NE(decompress(trailing, chunk_.size()), "");
  EXPECT_NE(decompress(ByteSpan(chunk_).first(1000), 1000), "");  // not zstd at all
  EXPECT_NE(decompress(ByteSpan{}, 0), "");
}

TEST_F(HostilePayload, AFrameWithoutContentSizeIsRefused) {
  // zstd's streaming API leaves the size out when it is not pledged.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  Bytes frame(ZSTD_compressBound(chunk_.size()));
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  // In two calls: given all input with ZSTD_e_end at once, zstd knows the
  // size and writes it anyway.
  ZSTD_inBuffer first{chunk_.data(), chunk_.size() / 2, 0};
  ZSTD_compressStream2(cctx, &out, &first, ZSTD_e_continue);
  ZSTD_inBuffer in{chunk_.data() + first.pos, chunk_.size() - first.pos, 0};
  const std::size_t left = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  ASSERT_EQ(left, 0u);
  frame.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  EXPECT_NE(decompress(frame, chunk_.size()), "");
}

TEST_F(HostilePayload, CorruptionIsRefusedOrCaughtByTheChunkHash) {
  // Without a zstd checksum a flipped literal may decode to other bytes; the
  // chunk's XXH3-64 catches those. Either way nothing is written past the
  // buffer and nothing crashes.
  for (std::size_t at = 6; at < frame_.size(); at += frame_.size() / 50 + 1) {
    Bytes damaged = frame_;
    damaged[at] ^= 0x40;
    Bytes out(chunk_.size());
    const std::string why = decompressor_.decompress(damaged, out);
    EXPECT_TRUE(!why.empty() || out != chunk_ || damaged == frame_) << at;
  }
}

TEST(ChunkCompression, ContextSizesForTheMemoryAccounting) {
  // What docs/server.md counts: a decompression context well under 256 KiB
  // (no window: single-shot into the chunk buffer), a level-1 compression
  // context for 1 MiB chunks of a few MiB at most.
  EXPECT_LT(ChunkDecompressor::context_bytes(), 256u * 1024);
  EXPECT_LT(ChunkCompressor::context_bytes(1, 1024 * 1024), 4u * 1024 * 1024);
  EXPECT_GT(ChunkCompressor::context_bytes(19, 4 * 1024 * 1024),
            ChunkCompressor::context_bytes(1, 4 * 1024 * 1024));
}

}  // namespace
}  // namespace ft
