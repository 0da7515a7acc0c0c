// FrameDecoder's pool of recycled payload buffers (common/wire/frame): a
// compressed upload mixes payloads of two sizes (zstd frames of about a
// quarter chunk, and the whole chunks they decompress into), so a buffer is
// taken by size, not by the order it came back, and is reused as it is:
// neither allocated nor filled again.
#include <gtest/gtest.h>

#include <cstring>

#include "common/base/limits.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"

namespace ft {
namespace {

constexpr std::size_t kChunk = 1024 * 1024 + 16;  // a DATA payload: prefix and 1 MiB
constexpr std::size_t kFrame = 256 * 1024;        // a compressed one

FrameDecoder client_decoder() {
  return FrameDecoder(FrameDecoder::Options{.sender = Sender::kClient, .expect_hello = false});
}

Bytes filled(std::size_t size, std::uint8_t value) {
  return Bytes(size, value);
}

TEST(FramePool, TakesTheSmallestBufferOfAboutTheSizeAskedAsItIs) {
  FrameDecoder decoder = client_decoder();
  Bytes chunk = filled(kChunk, 0xAB);
  Bytes frame = filled(kFrame, 0xCD);
  const std::uint8_t* chunk_bytes = chunk.data();
  const std::uint8_t* frame_bytes = frame.data();
  decoder.recycle(std::move(chunk));
  decoder.recycle(std::move(frame));  // the last one back: the wrong size below
  EXPECT_EQ(decoder.buffered_bytes(), kChunk + kFrame);

  Bytes whole = decoder.take_recycled(kChunk);
  EXPECT_EQ(whole.data(), chunk_bytes) << "the chunk-sized buffer, not the last one back";
  ASSERT_EQ(whole.size(), kChunk);
  EXPECT_EQ(whole[kChunk - 1], 0xAB) << "reused as it is, not filled";
  EXPECT_EQ(decoder.buffered_bytes(), kFrame);
  EXPECT_TRUE(decoder.take_recycled(kFrame + 1).empty()) << "too small for it";

  decoder.recycle(std::move(whole));
  Bytes small = decoder.take_recycled(200 * 1024);
  EXPECT_EQ(small.data(), frame_bytes) << "the smallest that fits";
  EXPECT_TRUE(decoder.take_recycled(200 * 1024).empty())
      << "a 1 MiB buffer is not pinned by a payload of a fifth of it";
  EXPECT_TRUE(decoder.take_recycled(1000).empty()) << "small payloads are allocated";
  EXPECT_EQ(decoder.buffered_bytes(), kChunk);
}

TEST(FramePool, APayloadLandsInTheBufferOfItsSize) {
  FrameDecoder decoder = client_decoder();
  Bytes chunk = filled(kChunk, 0);
  const std::uint8_t* chunk_bytes = chunk.data();
  decoder.recycle(std::move(chunk));
  decoder.recycle(filled(kFrame, 0));
  Bytes bytes(kChunk - 16);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
  Bytes wire;
  encode_data(wire, 1, 0, bytes);
  // Fed in pieces, as reads would bring them.
  std::size_t fed = 0;
  DecodeStatus status = DecodeStatus::kNeedMore;
  while (status == DecodeStatus::kNeedMore && fed < wire.size()) {
    const std::size_t n = std::min<std::size_t>(100000, wire.size() - fed);
    fed += decoder.feed(ByteSpan(wire).subspan(fed, n));
    status = decoder.next();
  }
  ASSERT_EQ(status, DecodeStatus::kFrame);
  Frame frame = decoder.take_frame();
  EXPECT_EQ(frame.payload.data(), chunk_bytes) << "received straight into the recycled chunk";
  auto data = decode_data(frame.payload);
  ASSERT_TRUE(data);
  EXPECT_TRUE(std::equal(data->bytes.begin(), data->bytes.end(), bytes.begin(), bytes.end()));
}

// Reads go straight into the payload's buffer. A fresh one grows as bytes
// arrive (a header alone must not make memory resident), so its first
// area is 64 KiB; a recycled buffer is resident already, and its area is
// the whole rest of the payload: a 1 MiB chunk in one read rather than
// five or more (each read also sends an ACK on loopback).
TEST(FramePool, ARecycledBufferTakesTheRestOfThePayloadInOneArea) {
  Bytes bytes(kChunk - 16, 0x5A);
  Bytes wire;
  encode_data(wire, 1, 0, bytes);
  const std::size_t header = limits::kFrameHeaderSize;
  auto first_direct_area = [&](FrameDecoder& decoder) {
    // The header and 100 bytes of payload, then the area the next read gets.
    decoder.feed(ByteSpan(wire).first(header + 100));
    EXPECT_EQ(decoder.next(), DecodeStatus::kNeedMore);
    return decoder.write_area().size();
  };
  FrameDecoder fresh = client_decoder();
  EXPECT_EQ(first_direct_area(fresh), 64u * 1024);
  FrameDecoder pooled = client_decoder();
  pooled.recycle(filled(kChunk, 0));
  EXPECT_EQ(first_direct_area(pooled), kChunk - 100);
}

}  // namespace
}  // namespace ft
