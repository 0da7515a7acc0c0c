// Reading extended attributes by directory and name (common/os/file_attrs):
// read_xattrs_at() answers what read_xattrs() answers for the same file.
#include "common/os/file_attrs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/os/fd.hpp"

namespace ft {
namespace {

// A directory in /dev/shm (tmpfs keeps user.* attributes), removed at the end.
class XattrDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/dev/shm/ft-xattr-test-XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    path_ = name;
    dir_ = Fd(::open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }
  std::string make_file(const std::string& name) {
    const std::string path = path_ + "/" + name;
    Fd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    EXPECT_TRUE(fd);
    return path;
  }
  // False (the test is skipped) where the file system keeps no attributes.
  bool set(const std::string& path, const std::string& key, const std::string& value) {
    if (::setxattr(path.c_str(), key.c_str(), value.data(), value.size(), 0) == 0) return true;
    EXPECT_EQ(errno, ENOTSUP);
    return false;
  }
  void expect_same(const std::string& name) {
    std::vector<Xattr> by_path, by_name;
    ASSERT_EQ(read_xattrs(path_ + "/" + name, false, SIZE_MAX / 2, by_path), 0);
    ASSERT_EQ(read_xattrs_at(dir_.get(), name.c_str(), SIZE_MAX / 2, by_name), 0);
    EXPECT_EQ(by_name, by_path);
  }
  std::string path_;
  Fd dir_;
};

TEST_F(XattrDirectory, AFileWithoutAttributesHasNone) {
  make_file("plain");
  std::vector<Xattr> out{Xattr{"stale", "entry"}};
  ASSERT_EQ(read_xattrs_at(dir_.get(), "plain", SIZE_MAX / 2, out), 0);
  EXPECT_TRUE(out.empty());
}

TEST_F(XattrDirectory, ReadsTheAttributesSortedByName) {
  const std::string path = make_file("tagged");
  if (!set(path, "user.zeta", "last") || !set(path, "user.alpha", std::string(3000, 'v'))) {
    GTEST_SKIP() << "no user attributes on /dev/shm";
  }
  std::vector<Xattr> out;
  ASSERT_EQ(read_xattrs_at(dir_.get(), "tagged", SIZE_MAX / 2, out), 0);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (Xattr{"user.alpha", std::string(3000, 'v')}));
  EXPECT_EQ(out[1], (Xattr{"user.zeta", "last"}));
  expect_same("tagged");
}

TEST_F(XattrDirectory, ReadsANameListLongerThanTheFirstBuffer) {
  const std::string path = make_file("many");
  for (int i = 0; i < 40; ++i) {
    if (!set(path, "user.a-rather-long-attribute-name-" + std::to_string(i), "x")) {
      GTEST_SKIP() << "no user attributes on /dev/shm";
    }
  }
  std::vector<Xattr> out;
  ASSERT_EQ(read_xattrs_at(dir_.get(), "many", SIZE_MAX / 2, out), 0);
  EXPECT_EQ(out.size(), 40u);
  expect_same("many");
}

TEST_F(XattrDirectory, RefusesMoreThanTheLimit) {
  const std::string path = make_file("big");
  if (!set(path, "user.big", std::string(2000, 'b'))) GTEST_SKIP() << "no user attributes";
  std::vector<Xattr> out;
  EXPECT_EQ(read_xattrs_at(dir_.get(), "big", 1000, out), E2BIG);
}

TEST_F(XattrDirectory, ALinkIsNotFollowed) {
  const std::string target = make_file("target");
  if (!set(target, "user.on-target", "t")) GTEST_SKIP() << "no user attributes on /dev/shm";
  ASSERT_EQ(::symlinkat("target", dir_.get(), "link"), 0);
  std::vector<Xattr> out;
  ASSERT_EQ(read_xattrs_at(dir_.get(), "link", SIZE_MAX / 2, out), 0);
  EXPECT_TRUE(out.empty());  // the link's own: none
  expect_same("link");
}

TEST_F(XattrDirectory, AMissingNameIsAnError) {
  std::vector<Xattr> out;
  EXPECT_EQ(read_xattrs_at(dir_.get(), "missing", SIZE_MAX / 2, out), ENOENT);
}

}  // namespace
}  // namespace ft
