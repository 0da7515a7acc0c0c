// The --partial-ttl cleaner on trees deeper than it used to walk (issue 10:
// it stopped at depth 256) and whose paths exceed PATH_MAX: a stale partial
// at the bottom is removed, a held or fresh one is kept, and the walk needs
// only a bounded number of descriptors whatever the depth.
#include "server/storage/partial_cleanup.hpp"

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
#include <string>
#include <vector>

#include "common/os/fd.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {
namespace {

constexpr const char* kStale = ".ft-part-0123456789abcdef0123456789abcdef";
constexpr const char* kFresh = ".ft-part-fedcba9876543210fedcba9876543210";

// Writes `name` in `dir`, its mtime `age` seconds ago.
void make_file(int dir, const char* name, std::time_t age) {
  Fd fd(::openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd) << std::strerror(errno);
  ASSERT_EQ(::write(fd.get(), "partial", 7), 7);
  const std::time_t when = std::time(nullptr) - age;
  const struct timespec times[2] = {{when, 0}, {when, 0}};
  ASSERT_EQ(::futimens(fd.get(), times), 0);
}

bool exists_at(int dir, const char* name) {
  struct stat st;
  return ::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

std::size_t open_descriptors() {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

class PartialCleanupTest : public ::testing::Test {
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

TEST_F(PartialCleanupTest, RemovesAStalePartialBelowDepth256) {
  const int bottom = make_chain(300, "d");
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, kStale, 2 * 24 * 3600));
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, kFresh, 0));
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, "old.txt", 10 * 24 * 3600));
  CleanupStats stats = remove_stale_partials(root_.get(), std::chrono::hours(24), {});
  EXPECT_EQ(stats.removed, 1u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_FALSE(exists_at(bottom, kStale));
  EXPECT_TRUE(exists_at(bottom, kFresh));
  EXPECT_TRUE(exists_at(bottom, "old.txt"));
}

TEST_F(PartialCleanupTest, WalksPathsLongerThanPathMax) {
  // 40 levels of 200-byte names: about 8 KB of path, twice PATH_MAX.
  const int bottom = make_chain(40, std::string(200, 'n'));
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, kStale, 2 * 24 * 3600));
  CleanupStats stats = remove_stale_partials(root_.get(), std::chrono::hours(24), {});
  EXPECT_EQ(stats.removed, 1u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_FALSE(exists_at(bottom, kStale));
}

TEST_F(PartialCleanupTest, NeedsBoundedDescriptorsWhateverTheDepth) {
  // Siblings at every level make the walk come back up through closed
  // levels and open them again.
  int at = root_.get();
  std::vector<int> chain;
  for (int i = 0; i < 120; ++i) {
    ASSERT_EQ(::mkdirat(at, "side", 0755), 0);
    Fd side(::openat(at, "side", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    ASSERT_NO_FATAL_FAILURE(make_file(side.get(), kStale, 2 * 24 * 3600));
    ASSERT_EQ(::mkdirat(at, "deep", 0755), 0);
    levels_.emplace_back(::openat(at, "deep", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    at = levels_.back().get();
  }
  ASSERT_NO_FATAL_FAILURE(make_file(at, kStale, 2 * 24 * 3600));
  levels_.clear();  // the test's own descriptors do not count

  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit tight = saved;
  tight.rlim_cur = open_descriptors() + kMaxOpenDirectories + 4;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  CleanupStats stats = remove_stale_partials(root_.get(), std::chrono::hours(24), {});
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(stats.removed, 121u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST_F(PartialCleanupTest, KeepsAPartialHeldByAnUploadDeepDown) {
  const int bottom = make_chain(280, "d");
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, kStale, 2 * 24 * 3600));
  // Held by an identity whose root is level 270: its key names the path
  // below that directory.
  std::string identity;
  ASSERT_EQ(directory_identity(levels_[269].get(), identity), 0);
  std::string below;
  for (int i = 270; i < 280; ++i) below += "d/";
  CleanupStats stats =
      remove_stale_partials(root_.get(), std::chrono::hours(24), {identity + "/" + below + kStale});
  EXPECT_EQ(stats.removed, 0u);
  EXPECT_TRUE(exists_at(bottom, kStale));
}

TEST_F(PartialCleanupTest, LeavesNoDescriptorOpen) {
  make_chain(5, "d");
  levels_.clear();
  const std::size_t before = open_descriptors();
  remove_stale_partials(root_.get(), std::chrono::hours(24), {});
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace ft::server
