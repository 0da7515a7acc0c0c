#pragma once
// A GoogleTest fixture that starts a real ftserve on 127.0.0.1 port 0 over a
// fresh temporary root, and gives each test a scratch directory.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>

#include "harness.hpp"

namespace ft::testing {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.start(
        {bin("ftserve"), "--root", root_.path().string(), "--listen", "127.0.0.1:0"}, error))
        << error;
  }
  void TearDown() override {
    int status = server_.stop(SIGTERM);
    EXPECT_EQ(status, 0) << server_.err();
  }
  /// "127.0.0.1:PORT/path" for the running server.
  std::string remote(const std::string& path = "") const {
    return "127.0.0.1:" + std::to_string(server_.port()) + (path.empty() ? "" : "/" + path);
  }
  /// Names under the root, to prove no temporary or stray file is left.
  std::vector<std::string> root_names() const { return tree_names(root_.path()); }

  TempDir root_;
  TempDir work_;
  ListeningProcess server_;
};

}  // namespace ft::testing
