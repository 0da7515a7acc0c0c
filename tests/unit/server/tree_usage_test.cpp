// The quota measure (measure_tree) walks as the stale-partial cleanup does
// (tree_walk.hpp): any depth, paths past PATH_MAX, a bounded number of
// descriptors, no link followed; partial files count at their declared size.
#include "server/storage/tree_usage.hpp"

#include "server/storage/partial_record.hpp"
#include "server/storage/tree_walk.hpp"
#include "tests/unit/server/deep_tree.hpp"

namespace ft::server {
namespace {

using TreeUsageTest = DeepTreeTest;

TEST_F(TreeUsageTest, CountsFilesBelowDepth300) {
  const int bottom = make_chain(300, "d");
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, "deep.txt", 0));  // 7 bytes each
  ASSERT_NO_FATAL_FAILURE(make_file(root_.get(), "top.txt", 0));
  TreeUsage usage;
  EXPECT_EQ(measure_tree(root_.get(), usage), 0);
  EXPECT_EQ(usage.files, 2u);
  EXPECT_EQ(usage.bytes, 14u);
}

TEST_F(TreeUsageTest, CountsFilesPastPathMax) {
  // 40 levels of 200-byte names: about 8 KB of path, twice PATH_MAX.
  const int bottom = make_chain(40, std::string(200, 'n'));
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, "deep.txt", 0));
  TreeUsage usage;
  EXPECT_EQ(measure_tree(root_.get(), usage), 0);
  EXPECT_EQ(usage.files, 1u);
  EXPECT_EQ(usage.bytes, 7u);
}

TEST_F(TreeUsageTest, NeedsBoundedDescriptorsWhateverTheDepth) {
  // Siblings at every level make the walk come back up through closed
  // levels and open them again.
  ASSERT_NO_FATAL_FAILURE(make_comb(120, "f", 0));
  // The walk's directories, one to read with, one for a partial file's
  // attribute (none here), and slack for the sanitizers.
  TreeUsage usage;
  int err = -1;
  with_descriptor_limit(kMaxOpenDirectories + 4, [&] { err = measure_tree(root_.get(), usage); });
  EXPECT_EQ(err, 0);
  EXPECT_EQ(usage.files, 121u);
  EXPECT_EQ(usage.bytes, 121u * 7);
}

TEST_F(TreeUsageTest, FollowsNoLinkOutOfTheTree) {
  ASSERT_NO_FATAL_FAILURE(make_file(root_.get(), "inside", 0));
  // A link to the directory above the tree (the temp directory, full of
  // other files) and one to a directory inside: neither is walked.
  ASSERT_EQ(::symlinkat("..", root_.get(), "up"), 0);
  ASSERT_EQ(::mkdirat(root_.get(), "sub", 0755), 0);
  ASSERT_EQ(::symlinkat("sub", root_.get(), "again"), 0);
  TreeUsage usage;
  EXPECT_EQ(measure_tree(root_.get(), usage), 0);
  EXPECT_EQ(usage.files, 1u);
  EXPECT_EQ(usage.bytes, 7u);
}

TEST_F(TreeUsageTest, PartialFilesCountAtTheirDeclaredSize) {
  const int bottom = make_chain(3, "d");
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, ".ft-part-aaaa", 0));  // 7 bytes on disk
  {
    Fd file(::openat(bottom, ".ft-part-aaaa", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(file);
    if (record_declared_size(file.get(), 1000) != 0) GTEST_SKIP() << "no user xattrs here";
  }
  ASSERT_NO_FATAL_FAILURE(make_file(bottom, ".ft-part-bbbb", 0));  // none recorded
  TreeUsage usage;
  EXPECT_EQ(measure_tree(root_.get(), usage), 0);
  EXPECT_EQ(usage.files, 2u);
  EXPECT_EQ(usage.bytes, 1000u + 7u);
  ASSERT_EQ(usage.partials.size(), 2u);
  for (const FoundPartial& found : usage.partials) {
    if (found.path == "d/d/d/.ft-part-aaaa") {
      EXPECT_TRUE(found.declared);
      EXPECT_EQ(found.counted, 1000u);
    } else {
      EXPECT_EQ(found.path, "d/d/d/.ft-part-bbbb");
      EXPECT_FALSE(found.declared);
      EXPECT_EQ(found.counted, 7u);
    }
    EXPECT_EQ(found.on_disk, 7u);
  }
}

}  // namespace
}  // namespace ft::server
