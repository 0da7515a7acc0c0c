// ftsend's compression threads (client/net/compression): chunks come back
// in the order they were started, each as its own zstd frame or as it was,
// however the two threads finish them; text chunks interleaved with random
// ones (refused) and chunks of other sizes keep their places.
#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/net/compression.hpp"

namespace ft::client {
namespace {

Bytes text_chunk(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string text;
  while (text.size() < size) {
    text += "2026-12-06T08:32:11Z web-" + std::to_string(random() % 24) + " GET /api/v1/items/" +
            std::to_string(random() % 100000) + " 200 ms=" + std::to_string(random() % 300) + "\n";
  }
  return Bytes(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(size));
}

Bytes random_chunk(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  Bytes bytes(size);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
  return bytes;
}

class SessionCompressionTest : public ::testing::Test {
 protected:
  void SetUp() override { use_compression(kDefaultCompressLevel); }
  void TearDown() override { use_compression(std::nullopt); }
};

TEST_F(SessionCompressionTest, ChunksComeBackInTheOrderStarted) {
  SessionCompression compression;
  ChunkDecompressor decompressor;
  std::deque<Bytes> expected;
  int compressed_count = 0;
  auto finish_oldest = [&] {
    Bytes got;
    const bool compressed = compression.finish(got);
    ASSERT_FALSE(expected.empty());
    const Bytes want = std::move(expected.front());
    expected.pop_front();
    if (compressed) {
      ++compressed_count;
      ASSERT_EQ(ChunkDecompressor::declared_size(got), want.size());
      Bytes back(want.size());
      ASSERT_EQ(decompressor.decompress(got, back), "");
      EXPECT_EQ(back, want);
    } else {
      EXPECT_EQ(got, want);
    }
  };
  // Big text chunks take longer than small or random ones: a thread often
  // finishes a later chunk first. The chunks are made beforehand so that
  // they are started faster than they are compressed.
  std::vector<Bytes> chunks;
  for (unsigned i = 0; i < 60; ++i) {
    const std::size_t size = i % 3 == 0 ? 1 << 20 : (i % 3 == 1 ? 4096 + i : 300 * 1024);
    chunks.push_back(i % 4 == 1 ? random_chunk(size, i) : text_chunk(size, i));
  }
  for (Bytes& chunk : chunks) {
    while (compression.in_flight() >= SessionCompression::kChunksInFlight) finish_oldest();
    expected.push_back(chunk);
    compression.start(std::move(chunk));
  }
  while (compression.in_flight() > 0) finish_oldest();
  EXPECT_TRUE(expected.empty());
  EXPECT_EQ(compressed_count, 45) << "every text chunk, no random one";
  EXPECT_FALSE(compression.oldest_done()) << "none in flight";
}

TEST_F(SessionCompressionTest, OldestDoneSaysWhenFinishWillNotWait) {
  SessionCompression compression;
  compression.start(text_chunk(64 * 1024, 1));
  while (!compression.oldest_done()) std::this_thread::yield();
  Bytes got;
  EXPECT_TRUE(compression.finish(got));
  EXPECT_EQ(compression.in_flight(), 0u);
}

TEST_F(SessionCompressionTest, StopsWithChunksInFlight) {
  // A session that fails mid-upload drops its chunks: the threads finish
  // or skip them and are joined, nothing leaks (ASan) and nothing hangs.
  for (int i = 0; i < 3; ++i) {
    SessionCompression compression;
    compression.start(text_chunk(1 << 20, 2));
    compression.start(random_chunk(1 << 20, 3));
  }
}

}  // namespace
}  // namespace ft::client
