// Finding the data of a file for SPARSE transfers (common/os/sparse).
#include "common/os/sparse.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/os/exact_io.hpp"
#include "common/os/fd.hpp"

namespace ft {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// A file in /dev/shm (tmpfs punches holes), removed at the end.
class SparseFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/dev/shm/ft-sparse-test-XXXXXX";
    fd_ = Fd(::mkstemp(name));
    ASSERT_TRUE(fd_);
    path_ = name;
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  void write_data(std::uint64_t offset, std::uint64_t length) {
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(length), 0x5a);
    ASSERT_EQ(write_exact_at(fd_.get(), bytes.data(), bytes.size(), offset), 0);
  }
  Fd fd_;
  std::string path_;
};

TEST_F(SparseFile, FindsTheHoleBetweenTwoStretchesOfData) {
  write_data(0, kMiB);
  write_data(3 * kMiB, kMiB);
  DataRangeCursor cursor(true);
  std::uint64_t start = 0, end = 0;
  ASSERT_EQ(cursor.next(fd_.get(), 0, 4 * kMiB, start, end), 0);
  EXPECT_EQ(start, 0u);
  EXPECT_EQ(end, kMiB);
  ASSERT_EQ(cursor.next(fd_.get(), kMiB, 4 * kMiB, start, end), 0);
  EXPECT_EQ(start, 3 * kMiB);
  EXPECT_EQ(end, 4 * kMiB);
}

// The regression: a seek per chunk walked tmpfs's page cache from each
// chunk to the end of a dense file, which made a 1 GiB download crawl at
// 36 MiB/s. Inside a stretch already found the cursor must not seek at all:
// given a descriptor that cannot be sought, it still answers.
TEST_F(SparseFile, InsideAKnownStretchOfDataNothingIsSought) {
  write_data(0, 4 * kMiB);
  ASSERT_EQ(::ftruncate(fd_.get(), 8 * kMiB), 0);  // a hole at the end: may have holes
  DataRangeCursor cursor(true);
  std::uint64_t start = 0, end = 0;
  ASSERT_EQ(cursor.next(fd_.get(), 0, 8 * kMiB, start, end), 0);
  ASSERT_EQ(end, 4 * kMiB);
  for (std::uint64_t offset = kMiB; offset < 4 * kMiB; offset += kMiB) {
    ASSERT_EQ(cursor.next(-1, offset, 8 * kMiB, start, end), 0) << offset;
    EXPECT_EQ(start, offset);
    EXPECT_EQ(end, 4 * kMiB);
  }
  // Past the stretch it seeks again, and finds only the hole left.
  EXPECT_EQ(cursor.next(-1, 4 * kMiB, 8 * kMiB, start, end), EBADF);
  ASSERT_EQ(cursor.next(fd_.get(), 4 * kMiB, 8 * kMiB, start, end), 0);
  EXPECT_EQ(start, 8 * kMiB);
}

TEST_F(SparseFile, AFileWithoutHolesIsNeverSought) {
  DataRangeCursor cursor(false);
  std::uint64_t start = 0, end = 0;
  for (std::uint64_t offset = 0; offset < 4 * kMiB; offset += kMiB) {
    ASSERT_EQ(cursor.next(-1, offset, 4 * kMiB, start, end), 0);
    EXPECT_EQ(start, offset);
    EXPECT_EQ(end, 4 * kMiB);
  }
}

}  // namespace
}  // namespace ft
