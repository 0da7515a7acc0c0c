// A delta upload's file allocated while its basis is signed
// (preallocate_upload, server/requests/upload_disk.cpp), beneath a
// temporary directory: the blocks are there and the size is not changed;
// a stop set before the job starts allocates nothing; a partial file kept
// after a cut upload gives back the blocks past its end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "common/os/exact_io.hpp"
#include "server/requests/upload_disk.hpp"

namespace ft::server {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;

class Preallocate : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ft-preallocate-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    disk_.file.reset(
        ::open((fs::path(dir_) / "part").c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(disk_.file);
    // A file system that cannot preallocate has nothing to test here.
    if (::fallocate(disk_.file.get(), FALLOC_FL_KEEP_SIZE, 0, 4096) != 0 ||
        ::fallocate(disk_.file.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) != 0) {
      GTEST_SKIP() << "no fallocate here";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  struct stat stat_file() {
    struct stat st {};
    EXPECT_EQ(::stat((fs::path(dir_) / "part").c_str(), &st), 0);
    return st;
  }
  std::string dir_;
  UploadDisk disk_;
};

TEST_F(Preallocate, AllocatesWithoutChangingTheSize) {
  const Bytes written(kMiB, 7);
  ASSERT_EQ(write_exact_at(disk_.file.get(), written.data(), written.size(), 0), 0);
  std::atomic<bool> stop{false};
  preallocate_upload(disk_, kMiB, 20 * kMiB + 5, stop);
  EXPECT_EQ(disk_.preallocated_to, 20 * kMiB + 5);
  const struct stat st = stat_file();
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kMiB);
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, 20 * kMiB);
  Bytes back(kMiB);
  ASSERT_EQ(read_exact_at(disk_.file.get(), back.data(), back.size(), 0), 0);
  EXPECT_EQ(back, written);
}

TEST_F(Preallocate, StopsWhenTold) {
  std::atomic<bool> stop{true};
  preallocate_upload(disk_, 0, 20 * kMiB, stop);
  EXPECT_EQ(disk_.preallocated_to, 0u);
  EXPECT_LT(static_cast<std::uint64_t>(stat_file().st_blocks) * 512, kMiB);
}

TEST_F(Preallocate, AKeptPartialFileHoldsOnlyItsBytes) {
  const Bytes written(2 * kMiB, 9);
  ASSERT_EQ(write_exact_at(disk_.file.get(), written.data(), written.size(), 0), 0);
  std::atomic<bool> stop{false};
  preallocate_upload(disk_, 0, 32 * kMiB, stop);
  ASSERT_GE(static_cast<std::uint64_t>(stat_file().st_blocks) * 512, 32 * kMiB);
  discard_upload(&disk_, true);
  const struct stat st = stat_file();  // kept, not removed
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), 2 * kMiB);
  EXPECT_LE(static_cast<std::uint64_t>(st.st_blocks) * 512, 3 * kMiB);
}

}  // namespace
}  // namespace ft::server
