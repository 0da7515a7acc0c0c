// The --partial-ttl cleaner on trees deeper than it used to walk (issue 10:
// it stopped at depth 256) and whose paths exceed PATH_MAX: a stale partial
// at the bottom is removed, a held or fresh one is kept, and the walk needs
// only a bounded number of descriptors whatever the depth.
#include "server/storage/partial_cleanup.hpp"

#include "server/storage/root_fs.hpp"
#include "tests/unit/server/deep_tree.hpp"

namespace ft::server {
namespace {

constexpr const char* kStale = ".ft-part-0123456789abcdef0123456789abcdef";
constexpr const char* kFresh = ".ft-part-fedcba9876543210fedcba9876543210";

using PartialCleanupTest = DeepTreeTest;

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
  ASSERT_NO_FATAL_FAILURE(make_comb(120, kStale, 2 * 24 * 3600));
  CleanupStats stats;
  with_descriptor_limit(kMaxOpenDirectories + 4, [&] {
    stats = remove_stale_partials(root_.get(), std::chrono::hours(24), {});
  });
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
