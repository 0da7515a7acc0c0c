#pragma once
// A temporary directory in which unit tests build deep and long trees (the
// walks of tree_walk.hpp: the stale-partial cleanup, the quota measure).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "common/os/fd.hpp"

namespace ft::server {

// Writes `name` in `dir`, its mtime `age` seconds ago.
inline void make_file(int dir, const char* name, std::time_t age) {
  Fd fd(::openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd) << std::strerror(errno);
  ASSERT_EQ(::write(fd.get(), "partial", 7), 7);
  const std::time_t when = std::time(nullptr) - age;
  const struct timespec times[2] = {{when, 0}, {when, 0}};
  ASSERT_EQ(::futimens(fd.get(), times), 0);
}

inline bool exists_at(int dir, const char* name) {
  struct stat st;
  return ::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

inline std::size_t open_descriptors() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

class DeepTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ft-partial-cleanup-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
    root_.reset(::open(dir_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }
  void TearDown() override {
    // rm walks by descriptor: the tree's paths may exceed PATH_MAX.
    const std::string command = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(std::system(command.c_str()), 0);
  }

  // Creates `depth` nested directories named `name` below the root; returns
  // the deepest (and keeps each level's descriptor in levels_).
  int make_chain(std::size_t depth, const std::string& name) {
    int at = root_.get();
    for (std::size_t i = 0; i < depth; ++i) {
      EXPECT_EQ(::mkdirat(at, name.c_str(), 0755), 0) << std::strerror(errno);
      levels_.emplace_back(::openat(at, name.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
      EXPECT_TRUE(levels_.back());
      at = levels_.back().get();
    }
    return at;
  }

  std::string dir_;
  Fd root_;
  std::vector<Fd> levels_;
};

}  // namespace ft::server
