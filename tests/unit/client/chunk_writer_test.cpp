// ChunkWriter (ftget's writer thread): chunks land at their offsets in the
// order given, drain() hands the files back with every chunk written, the
// destructor writes what is still queued, a chunk that cannot be written
// names why and the file's later chunks are dropped (another file's are
// not), every buffer comes back through take_spent(), and the writer's
// thread is a batch thread (it must not preempt the receiving thread).
#include "client/local/chunk_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "client/local/landing_file.hpp"

namespace ft::client {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChunk = 256 * 1024;

class ChunkWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ft-writer-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_path_ = pattern;
    dir_ = ::open(dir_path_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(dir_, 0);
  }
  void TearDown() override {
    ::close(dir_);
    fs::remove_all(dir_path_);
  }
  std::optional<LandingFile> landing(const std::string& name, std::uint64_t size) {
    std::string why;
    auto file = LandingFile::open(dir_, name, why, false);
    EXPECT_TRUE(file) << why;
    if (!file) return file;
    EXPECT_TRUE(file->start_over(PartialRecord{"remote/" + name, size, 0}, why)) << why;
    return file;
  }
  static Bytes random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    Bytes out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    return out;
  }
  // Queues `data` in kChunk pieces, each in a buffer of its own with a
  // header before the chunk (as a DATA payload holds it).
  static void queue_all(ChunkWriter& writer, LandingFile& file, const Bytes& data,
                        std::string& failure) {
    constexpr std::size_t kHead = 16;
    for (std::size_t at = 0; at < data.size(); at += kChunk) {
      const std::size_t n = std::min(kChunk, data.size() - at);
      Bytes buffer(kHead + n, 0xEE);
      std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(at), n, buffer.begin() + kHead);
      const ByteSpan bytes = ByteSpan(buffer).subspan(kHead, n);
      writer.write(file, at, std::move(buffer), bytes, failure);
    }
  }
  static Bytes read_back(const LandingFile& file, std::size_t n) {
    Bytes out(n);
    std::string why;
    EXPECT_TRUE(file.read_at(0, out, why)) << why;
    return out;
  }

  fs::path dir_path_;
  int dir_ = -1;
};

TEST_F(ChunkWriterTest, ChunksLandInOrderAndDrainHandsTheFilesBack) {
  // More than kMaxQueuedBytes: write() must wait for the thread on the way.
  const Bytes data = random_bytes(3 * ChunkWriter::kMaxQueuedBytes + 12345, 1);
  auto file = landing("a", data.size());
  ASSERT_TRUE(file);
  ChunkWriter writer;
  std::string failure;
  queue_all(writer, *file, data, failure);
  writer.drain();
  EXPECT_EQ(failure, "");
  EXPECT_FALSE(writer.failed(failure));
  EXPECT_EQ(read_back(*file, data.size()), data);

  std::vector<Bytes> spent;
  writer.take_spent(spent);
  EXPECT_EQ(spent.size(), (data.size() + kChunk - 1) / kChunk);
  writer.take_spent(spent);  // handed out once
  EXPECT_EQ(spent.size(), (data.size() + kChunk - 1) / kChunk);
}

// The scheduling policy of each of this process's threads (field 41 of
// /proc/self/task/TID/stat, counted after the parenthesised name).
std::vector<int> thread_policies() {
  std::vector<int> policies;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto name_end = stat.rfind(')');
    if (name_end == std::string::npos) continue;  // the thread ended meanwhile
    std::istringstream fields(stat.substr(name_end + 2));
    std::string field;
    for (int index = 3; index <= 41 && fields >> field; ++index) {
      if (index == 41) policies.push_back(std::stoi(field));
    }
  }
  return policies;
}

TEST_F(ChunkWriterTest, TheWriterRunsAsABatchThread) {
  const auto batch_threads = [] {
    const std::vector<int> policies = thread_policies();
    return std::count(policies.begin(), policies.end(), SCHED_BATCH);
  };
  const auto before = batch_threads();
  const Bytes data = random_bytes(2 * kChunk, 7);
  auto file = landing("batch", data.size());
  ASSERT_TRUE(file);
  ChunkWriter writer;
  std::string failure;
  queue_all(writer, *file, data, failure);
  writer.drain();  // the thread has run, so it has set its policy
  EXPECT_EQ(batch_threads(), before + 1);
  EXPECT_EQ(read_back(*file, data.size()), data);
}

TEST_F(ChunkWriterTest, TheDestructorWritesWhatIsQueued) {
  const Bytes data = random_bytes(ChunkWriter::kMaxQueuedBytes, 2);
  auto file = landing("b", data.size());
  ASSERT_TRUE(file);
  std::string failure;
  {
    ChunkWriter writer;
    queue_all(writer, *file, data, failure);
  }
  EXPECT_EQ(failure, "");
  EXPECT_EQ(read_back(*file, data.size()), data);
}

TEST_F(ChunkWriterTest, AFailedChunkNamesWhyAndDropsTheRestOfItsFileOnly) {
  auto broken = landing("broken", 3 * kChunk);
  auto fine = landing("fine", 2 * kChunk);
  ASSERT_TRUE(broken && fine);
  const Bytes first = random_bytes(kChunk, 3), second = random_bytes(kChunk, 4);
  const Bytes other = random_bytes(2 * kChunk, 5);
  ChunkWriter writer;
  std::string broken_failure, fine_failure;
  // No byte can be written at this offset: the write fails (EINVAL or
  // EFBIG) before it writes anything.
  const auto impossible = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
  Bytes bad = random_bytes(kChunk, 6);
  const ByteSpan bad_bytes = bad;
  writer.write(*broken, impossible, std::move(bad), bad_bytes, broken_failure);
  Bytes copy = first;
  const ByteSpan copy_bytes = copy;
  writer.write(*broken, 0, std::move(copy), copy_bytes, broken_failure);
  queue_all(writer, *fine, other, fine_failure);
  Bytes copy2 = second;
  const ByteSpan copy2_bytes = copy2;
  writer.write(*broken, kChunk, std::move(copy2), copy2_bytes, broken_failure);
  writer.drain();

  EXPECT_TRUE(writer.failed(broken_failure));
  EXPECT_NE(broken_failure, "");
  EXPECT_FALSE(writer.failed(fine_failure));
  EXPECT_EQ(read_back(*fine, other.size()), other);
  // The chunks after the failure were not written: the file stays empty.
  struct stat st {};
  ASSERT_EQ(::fstat(broken->fd(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  std::vector<Bytes> spent;
  writer.take_spent(spent);
  EXPECT_EQ(spent.size(), 5u);  // dropped chunks' buffers come back too
}

}  // namespace
}  // namespace ft::client
