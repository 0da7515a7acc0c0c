// ftget's signature of its older copy (client/local/basis_signer.hpp):
// signed in two halves at once or in one pass, the parts are those of one
// SignatureBuilder fed the whole file; a file shorter than it was said to
// be gives none.
#include "client/local/basis_signer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "common/os/exact_io.hpp"

namespace ft::test {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

class BasisSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/ft-basis-signer-XXXXXX";
    fd_ = ::mkstemp(path_.data());
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  Bytes write_random(std::size_t size) {
    Bytes content(size);
    std::mt19937_64 random(14);
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      const std::uint64_t word = random();
      for (int b = 0; b < 8; ++b) content[i + b] = static_cast<std::uint8_t>(word >> (8 * b));
    }
    EXPECT_EQ(write_exact_at(fd_, content.data(), content.size(), 0), 0);
    return content;
  }
  static std::vector<delta::SignaturePart> one_builder(const Bytes& content) {
    delta::SignatureBuilder builder(content.size());
    builder.feed(content);
    return builder.parts();
  }

  std::string path_;
  int fd_ = -1;
};

TEST_F(BasisSignerTest, TwoHalvesAtOnceGiveTheSignatureOfOnePass) {
  // Above the split, with a partial last block and several parts.
  const Bytes content = write_random(client::kSignInHalvesAt + 3 * kMiB + 4097);
  const auto expected = one_builder(content);
  ASSERT_GT(expected.size(), 1U);
  EXPECT_EQ(client::sign_basis(fd_, content.size(), 2), expected);
  EXPECT_EQ(client::sign_basis(fd_, content.size(), 1), expected);
}

TEST_F(BasisSignerTest, ASmallBasisIsSignedInOnePass) {
  const Bytes content = write_random(3 * kMiB + 11);
  EXPECT_EQ(client::sign_basis(fd_, content.size(), 2), one_builder(content));
}

TEST_F(BasisSignerTest, ABasisShorterThanSaidGivesNoSignature) {
  const Bytes content = write_random(client::kSignInHalvesAt + kMiB);
  // The second half falls short, or both.
  EXPECT_TRUE(client::sign_basis(fd_, content.size() + 2 * kMiB, 2).empty());
  EXPECT_TRUE(client::sign_basis(fd_, 2 * content.size(), 2).empty());
  EXPECT_TRUE(client::sign_basis(fd_, 2 * content.size(), 1).empty());
}

}  // namespace
}  // namespace ft::test
