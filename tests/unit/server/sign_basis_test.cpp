// sign_basis (server/requests/upload_delta.cpp), the signature of a delta
// upload's basis, read beneath a temporary directory: a big basis is
// signed in two halves at once, and the parts must be those one builder
// makes over the whole file; too small or missing bases give none.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

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

TEST_F(SignBasis, ABigBasisSignedInHalvesGivesTheWholeSignature) {
  // Over the size that is split (16 MiB), with an odd tail: 4 KiB blocks
  // (5,125 of them), so the halves cut inside a part.
  const Bytes content = test::pattern_bytes(20 * 1024 * 1024 + 1234, 7);
  write("big", content);
  const auto parts = sign_basis(disk_, "big", 64 * 1024);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts, whole(content));
  EXPECT_TRUE(disk_.basis) << "the basis stays open for the COPY frames";
}

TEST_F(SignBasis, ASmallBasisIsSignedWhole) {
  const Bytes content = test::pattern_bytes(3 * 4096 + 5, 8);
  write("small", content);
  EXPECT_EQ(sign_basis(disk_, "small", 4096), whole(content));
}

TEST_F(SignBasis, NoBasisBelowTheMinimumOrMissing) {
  write("tiny", test::pattern_bytes(1000, 9));
  EXPECT_TRUE(sign_basis(disk_, "tiny", 4096).empty());
  EXPECT_TRUE(sign_basis(disk_, "missing", 4096).empty());
  EXPECT_FALSE(disk_.basis);
}

}  // namespace
}  // namespace ft::server
