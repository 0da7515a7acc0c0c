// A delta upload's basis signing (server/requests/upload_delta.cpp),
// beneath a temporary directory: a big basis is cut into two slices, each
// signed by a job of its own (here: two threads at once), and the joined
// parts must be those one builder makes over the whole file; too small or
// missing bases give none, and a slice not signed whole (the basis
// shrank, or the upload gave up) gives no signature.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "common/delta/block_signature.hpp"
#include "common/os/exact_io.hpp"
#include "server/requests/upload_disk.hpp"
#include "tests/unit/support/feed_plan.hpp"

namespace ft::server {
namespace {

namespace fs = std::filesystem;

class SignBasis : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ft-sign-basis-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    disk_.dir.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(disk_.dir);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const Bytes& content) {
    Fd fd(::open((fs::path(dir_) / name).c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd);
    ASSERT_EQ(write_exact_at(fd.get(), content.data(), content.size(), 0), 0);
  }
  static std::vector<delta::SignaturePart> whole(const Bytes& content) {
    delta::SignatureBuilder builder(content.size());
    builder.feed(content);
    return builder.parts();
  }
  std::string dir_;
  UploadDisk disk_;
};

TEST_F(SignBasis, ABigBasisSignedInTwoSlicesAtOnceGivesTheWholeSignature) {
  // Over the size that is split (16 MiB), with an odd tail: 4 KiB blocks
  // (5,125 of them), so the slices cut inside a part.
  const Bytes content = test::pattern_bytes(20 * 1024 * 1024 + 1234, 7);
  write("big", content);
  auto signing = open_basis(disk_.dir.get(), "big", 64 * 1024);
  ASSERT_TRUE(signing);
  ASSERT_EQ(signing->slices.size(), 2u);
  std::thread second([&] { sign_slice(*signing, 1); });
  sign_slice(*signing, 0);
  second.join();
  const auto parts = join_slices(*signing);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts, whole(content));
  EXPECT_TRUE(signing->basis) << "the basis stays open for the COPY frames";
}

TEST_F(SignBasis, SlicesSignedInTurnGiveTheSameSignature) {
  const Bytes content = test::pattern_bytes(17 * 1024 * 1024, 3);
  write("big", content);
  auto signing = open_basis(disk_.dir.get(), "big", 64 * 1024);
  ASSERT_TRUE(signing);
  for (std::size_t slice = 0; slice < signing->slices.size(); ++slice) sign_slice(*signing, slice);
  EXPECT_EQ(join_slices(*signing), whole(content));
}

TEST_F(SignBasis, ASmallBasisIsSignedWhole) {
  const Bytes content = test::pattern_bytes(3 * 4096 + 5, 8);
  write("small", content);
  auto signing = open_basis(disk_.dir.get(), "small", 4096);
  ASSERT_TRUE(signing);
  ASSERT_EQ(signing->slices.size(), 1u);
  sign_slice(*signing, 0);
  EXPECT_EQ(join_slices(*signing), whole(content));
}

TEST_F(SignBasis, NoBasisBelowTheMinimumOrMissing) {
  write("tiny", test::pattern_bytes(1000, 9));
  EXPECT_FALSE(open_basis(disk_.dir.get(), "tiny", 4096));
  EXPECT_FALSE(open_basis(disk_.dir.get(), "missing", 4096));
  EXPECT_FALSE(open_basis(-1, "tiny", 0));
}

TEST_F(SignBasis, AShrunkOrAbandonedBasisGivesNoSignature) {
  const Bytes content = test::pattern_bytes(20 * 1024 * 1024, 4);
  write("big", content);
  auto shrunk = open_basis(disk_.dir.get(), "big", 64 * 1024);
  ASSERT_TRUE(shrunk);
  ASSERT_EQ(::truncate((fs::path(dir_) / "big").c_str(), 12 * 1024 * 1024), 0);
  sign_slice(*shrunk, 0);
  sign_slice(*shrunk, 1);  // its range is gone
  EXPECT_TRUE(join_slices(*shrunk).empty());

  write("big", content);
  auto abandoned = open_basis(disk_.dir.get(), "big", 64 * 1024);
  ASSERT_TRUE(abandoned);
  abandoned->abandoned = true;
  sign_slice(*abandoned, 0);
  sign_slice(*abandoned, 1);
  EXPECT_TRUE(join_slices(*abandoned).empty());
}

}  // namespace
}  // namespace ft::server
