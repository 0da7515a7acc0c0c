// ReadAhead (client/local/read_ahead.hpp): chunks in file order with their
// hashes, the file hash continued across them, a failed read ending the
// range, and stop() / truncate() for rewinds and deltas.
#include "client/local/read_ahead.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "common/os/exact_io.hpp"
#include "common/os/fd.hpp"

namespace ft::test {
namespace {

using client::ReadAhead;
using client::SourceFile;

Bytes content_of(std::size_t size, unsigned seed) {
  Bytes out(size);
  std::mt19937 random(seed);
  for (auto& byte : out) byte = static_cast<std::uint8_t>(random());
  return out;
}

class ReadAheadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ft-read-ahead-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  SourceFile open_source(const Bytes& content) {
    path_ = (dir_ / "source").string();
    Fd fd(::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd) << std::strerror(errno);
    EXPECT_EQ(write_exact_at(fd.get(), content.data(), content.size(), 0), 0);
    std::string why;
    auto source = SourceFile::open(path_, why);
    EXPECT_TRUE(source) << why;
    return std::move(*source);
  }

  /// Takes every chunk until done(), checking each against `content`:
  /// offsets one after another from `from`, the bytes, the XXH3-64.
  /// Returns the offset reached.
  static std::uint64_t take_all(ReadAhead& ahead, const Bytes& content, std::uint64_t from,
                                std::uint32_t chunk_size) {
    std::uint64_t at = from;
    while (!ahead.done()) {
      EXPECT_EQ(ahead.next_offset(), at);
      ReadAhead::Chunk chunk = ahead.next();
      EXPECT_TRUE(chunk.error.empty()) << chunk.error;
      if (!chunk.error.empty()) break;
      EXPECT_EQ(chunk.offset, at) << "chunks out of order";
      EXPECT_EQ(chunk.bytes.size(),
                std::min<std::uint64_t>(chunk_size, content.size() - chunk.offset));
      EXPECT_TRUE(std::equal(chunk.bytes.begin(), chunk.bytes.end(),
                             content.begin() + static_cast<std::ptrdiff_t>(chunk.offset)))
          << "bytes of the chunk at " << chunk.offset;
      EXPECT_EQ(chunk.hash, hash64(chunk.bytes)) << "chunk at " << chunk.offset;
      at += chunk.bytes.size();
      ahead.recycle(std::move(chunk.bytes));
    }
    return at;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(ReadAheadTest, ChunksComeInFileOrderAndTheHashCoversTheWholeFile) {
  // Far more chunks than are read ahead (16 of 64 KiB): before each one is
  // taken the thread has read as many as it may, so several wait at once,
  // and one given out of order changes the offsets and the file hash.
  constexpr std::uint32_t kChunk = 64 * 1024;
  const Bytes content = content_of(200 * kChunk + 123, 1);
  const std::size_t ahead_most = ReadAhead::bytes_ahead(kChunk) / kChunk;
  ASSERT_GE(ahead_most, 2u);
  SourceFile source = open_source(content);
  ReadAhead ahead;
  ahead.start(source, 0, content.size(), kChunk, StreamHash128());
  EXPECT_TRUE(ahead.reading());
  std::uint64_t at = 0;
  while (!ahead.done()) {
    const std::size_t left = (content.size() - at + kChunk - 1) / kChunk;
    const std::size_t expected = std::min(ahead_most, left);
    while (ahead.chunks_ready() < expected) std::this_thread::yield();
    EXPECT_EQ(ahead.chunks_ready(), expected);
    ReadAhead::Chunk chunk = ahead.next();
    ASSERT_TRUE(chunk.error.empty()) << chunk.error;
    ASSERT_EQ(chunk.offset, at) << "chunks out of order";
    EXPECT_EQ(chunk.hash, hash64(chunk.bytes));
    EXPECT_TRUE(std::equal(chunk.bytes.begin(), chunk.bytes.end(),
                           content.begin() + static_cast<std::ptrdiff_t>(at)));
    at += chunk.bytes.size();
    ahead.recycle(std::move(chunk.bytes));
  }
  EXPECT_EQ(at, content.size());
  StreamHash128 hash = ahead.stop();
  EXPECT_FALSE(ahead.reading());
  EXPECT_EQ(hash.digest(), hash128(content));
}

TEST_F(ReadAheadTest, ARangeFromAnOffsetContinuesTheHashOfThePrefix) {
  constexpr std::uint32_t kChunk = 4096;
  const Bytes content = content_of(10 * kChunk + 7, 2);
  SourceFile source = open_source(content);
  const std::uint64_t from = 3 * kChunk + 5;
  StreamHash128 prefix;
  prefix.update(ByteSpan(content).first(from));
  ReadAhead ahead;
  ahead.start(source, from, content.size(), kChunk, std::move(prefix));
  EXPECT_EQ(take_all(ahead, content, from, kChunk), content.size());
  EXPECT_EQ(ahead.stop().digest(), hash128(content));
}

TEST_F(ReadAheadTest, AFileThatShrankEndsTheRangeWithAnErrorAtThatChunk) {
  constexpr std::uint32_t kChunk = 4096;
  const Bytes content = content_of(10 * kChunk, 3);
  SourceFile source = open_source(content);
  // Cut after five and a half chunks once open: the size seen at open()
  // is the range's end, so the sixth read comes up short.
  ASSERT_EQ(::truncate(path_.c_str(), 5 * kChunk + kChunk / 2), 0);
  ReadAhead ahead;
  ahead.start(source, 0, content.size(), kChunk, StreamHash128());
  for (std::uint64_t at = 0; at < 5 * kChunk; at += kChunk) {
    ASSERT_FALSE(ahead.done());
    ReadAhead::Chunk chunk = ahead.next();
    ASSERT_TRUE(chunk.error.empty()) << chunk.error;
    EXPECT_EQ(chunk.offset, at);
  }
  ASSERT_FALSE(ahead.done());
  ReadAhead::Chunk failed = ahead.next();
  EXPECT_EQ(failed.offset, 5 * kChunk);
  EXPECT_TRUE(failed.bytes.empty());
  EXPECT_EQ(failed.error, "the file ended early (it shrank)");
  EXPECT_TRUE(ahead.done()) << "no chunk follows an error";
  ahead.stop();
  EXPECT_FALSE(ahead.reading());
}

TEST_F(ReadAheadTest, StoppedMidFileItStartsAgainFromAnEarlierOffset) {
  // A rewind: the server wants the data again from an offset before the
  // chunks already read ahead; the hash given back is only reset.
  constexpr std::uint32_t kChunk = 4096;
  const Bytes content = content_of(40 * kChunk, 4);
  SourceFile source = open_source(content);
  ReadAhead ahead;
  ahead.start(source, 0, content.size(), kChunk, StreamHash128());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(ahead.next().error.empty());
  StreamHash128 hash = ahead.stop();
  hash.reset();
  hash.update(ByteSpan(content).first(2 * kChunk));
  ahead.start(source, 2 * kChunk, content.size(), kChunk, std::move(hash));
  EXPECT_EQ(ahead.next_offset(), 2 * kChunk);
  EXPECT_EQ(take_all(ahead, content, 2 * kChunk, kChunk), content.size());
  EXPECT_EQ(ahead.stop().digest(), hash128(content));
}

TEST_F(ReadAheadTest, TruncatedItGivesWhatWasReadAndTheHashOfExactlyThat) {
  // A delta starting mid-file: no chunk past those read already, and the
  // hash of the bytes given, for the matcher to continue. Chunks of 1 MiB:
  // two are read ahead at most.
  constexpr std::uint32_t kChunk = 1024 * 1024;
  const Bytes content = content_of(12 * kChunk, 5);
  SourceFile source = open_source(content);
  ReadAhead ahead;
  ahead.start(source, 0, content.size(), kChunk, StreamHash128());
  ASSERT_TRUE(ahead.next().error.empty());
  ahead.truncate();
  const std::uint64_t reached = take_all(ahead, content, kChunk, kChunk);
  EXPECT_LE(reached, kChunk + ReadAhead::kBytesAhead);
  EXPECT_LT(reached, content.size());
  EXPECT_EQ(ahead.stop().digest(), hash128(ByteSpan(content).first(reached)));
}

TEST_F(ReadAheadTest, OneReadAheadServesOneFileAfterAnother) {
  // A new start() after stop() reads the next file: nothing of the first
  // one's chunks comes with it.
  constexpr std::uint32_t kChunk = 8192;
  const Bytes first = content_of(30 * kChunk + 1, 6);
  SourceFile first_source = open_source(first);
  ReadAhead ahead;
  ahead.start(first_source, 0, first.size(), kChunk, StreamHash128());
  ASSERT_TRUE(ahead.next().error.empty());
  ahead.stop();
  const Bytes second = content_of(20 * kChunk + 3, 7);
  std::filesystem::rename(path_, dir_ / "first");
  SourceFile second_source = open_source(second);
  ahead.start(second_source, 0, second.size(), kChunk, StreamHash128());
  EXPECT_EQ(take_all(ahead, second, 0, kChunk), second.size());
  EXPECT_EQ(ahead.stop().digest(), hash128(second));
}

TEST_F(ReadAheadTest, DestroyedWhileReadingItStopsCleanly) {
  constexpr std::uint32_t kChunk = 4096;
  const Bytes content = content_of(64 * kChunk, 8);
  SourceFile source = open_source(content);
  {
    ReadAhead ahead;
    ahead.start(source, 0, content.size(), kChunk, StreamHash128());
    ASSERT_TRUE(ahead.next().error.empty());
  }  // the thread stops; ASan reports any read past the end of the test
}

}  // namespace
}  // namespace ft::test
