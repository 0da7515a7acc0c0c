#pragma once
// A temporary directory in which unit tests build deep and long trees (the
// walks of tree_walk.hpp: the stale-partial cleanup, the quota measure).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
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

  // A "comb" `depth` levels deep: at each level a directory "side" holding
  // `file` and the directory "deep" that goes on; `file` at the bottom too
  // (depth + 1 of them). Siblings at every level make a walk come back up
  // through levels it closed and open them again.
  void make_comb(int depth, const char* file, std::time_t age) {
    int at = root_.get();
    for (int i = 0; i < depth; ++i) {
      ASSERT_EQ(::mkdirat(at, "side", 0755), 0);
      Fd side(::openat(at, "side", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
      ASSERT_NO_FATAL_FAILURE(make_file(side.get(), file, age));
      ASSERT_EQ(::mkdirat(at, "deep", 0755), 0);
      levels_.emplace_back(::openat(at, "deep", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
      at = levels_.back().get();
    }
    ASSERT_NO_FATAL_FAILURE(make_file(at, file, age));
    levels_.clear();  // the test's own descriptors do not count
  }

  // Runs `walk` with the descriptor limit at what is open now plus `extra`.
  void with_descriptor_limit(std::size_t extra, const std::function<void()>& walk) {
    struct rlimit saved;
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    struct rlimit tight = saved;
    tight.rlim_cur = open_descriptors() + extra;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    walk();
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  }

  std::string dir_;
  Fd root_;
  std::vector<Fd> levels_;
};

}  // namespace ft::server
