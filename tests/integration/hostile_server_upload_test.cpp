// ftsend against an impostor server (tests/tools/ft_fake_server.cpp,
// scenario "wrongname") whose ERROR replies to uploads break the protocol:
// a local-only error code, which would blame the local disk (exit 3), and
// an ERROR about another path than the one sent. The upload side must
// refuse them as the download side does (hostile_client_test.cpp): exit
// status 8 with the same message.
#include <gtest/gtest.h>
#include <signal.h>

#include "support/harness.hpp"

namespace ft::testing {
namespace {

constexpr int kExitProtocol = 8;

class HostileServerUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.start({bin("ft_fake_server"), "--scenario", "wrongname"}, error)) << error;
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
    }
  }
  RunResult send(const std::vector<std::string>& options, const fs::path& source) {
    std::vector<std::string> argv = {bin("ftsend"), "--retries", "0"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(source.string());
    argv.push_back("127.0.0.1:" + std::to_string(server_.port()) + "/up/");
    return run(argv, std::chrono::seconds(20));
  }

  TempDir source_;
  ListeningProcess server_;
};

TEST_F(HostileServerUploadTest, LocalOnlyErrorCodeIsAProtocolError) {
  write_file(source_ / "localcode.txt", "bytes");
  auto result = send({}, source_ / "localcode.txt");
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("ERROR with code 1002"), std::string::npos) << result.err;
}

TEST_F(HostileServerUploadTest, ErrorAboutAnotherPathIsAProtocolError) {
  write_file(source_ / "file.txt", "bytes");
  auto result = send({}, source_ / "file.txt");
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("ERROR about \"../../etc/passwd\" in reply to a request for "
                            "\"up/file.txt\""),
            std::string::npos)
      << result.err;
}

TEST_F(HostileServerUploadTest, TreeUploadRefusesAnErrorAboutAnotherPath) {
  fs::create_directories(source_ / "tree" / "sub");
  write_file(source_ / "tree" / "sub" / "file.txt", "bytes");
  auto result = send({"-r"}, source_ / "tree");
  EXPECT_EQ(result.exit_code, kExitProtocol) << result.err;
  EXPECT_NE(result.err.find("ERROR about \""), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ft::testing
