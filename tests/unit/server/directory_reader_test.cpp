// DirectoryReader (LIST's windows): a directory that fits in one window is
// one sorted run, as listings always were; a larger one comes in windows,
// each sorted, that together hold every entry exactly once, the reserved
// names left out; a directory of exactly one window ends with it.
#include "server/storage/directory_reader.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace ft::server {
namespace {

namespace fs = std::filesystem;

class DirectoryReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ft-reader-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_path_ = pattern;
    root_ = ::open(root_path_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(root_, 0);
    fs::create_directory(root_path_ / "d");
  }
  void TearDown() override {
    ::close(root_);
    fs::remove_all(root_path_);
  }
  void make_files(int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = ::open((root_path_ / "d" / ("n" + std::to_string(i))).c_str(),
                            O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      ::close(fd);
    }
  }
  // Every window of "d" read with `window`.
  std::vector<std::vector<Entry>> windows(std::size_t window) {
    DirectoryReader reader;
    EXPECT_EQ(reader.open(root_, "d"), 0);
    std::vector<std::vector<Entry>> out;
    for (int guard = 0; !reader.at_end() && guard < 1000; ++guard) {
      std::vector<Entry> entries;
      EXPECT_EQ(reader.read(entries, nullptr, false, false, window), 0);
      out.push_back(std::move(entries));
    }
    EXPECT_TRUE(reader.at_end());
    return out;
  }

  fs::path root_path_;
  int root_ = -1;
};

bool sorted(const std::vector<Entry>& entries) {
  return std::is_sorted(entries.begin(), entries.end(),
                        [](const Entry& a, const Entry& b) { return a.name < b.name; });
}

TEST_F(DirectoryReaderTest, SmallDirectoryIsOneSortedWindow) {
  make_files(50);
  fs::create_directory(root_path_ / "d" / ".ft-tmp-reserved");
  auto all = windows(kListingWindow);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].size(), 50u);
  EXPECT_TRUE(sorted(all[0]));
}

TEST_F(DirectoryReaderTest, LargeDirectoryComesInSortedWindowsHoldingEveryEntryOnce) {
  make_files(1000);
  auto all = windows(64);
  EXPECT_EQ(all.size(), 16u);  // 15 full windows and one of 40
  std::set<std::string> names;
  for (const auto& window : all) {
    EXPECT_LE(window.size(), 64u);
    EXPECT_TRUE(sorted(window));
    for (const Entry& e : window) EXPECT_TRUE(names.insert(e.name).second) << e.name;
  }
  EXPECT_EQ(names.size(), 1000u);
}

TEST_F(DirectoryReaderTest, ExactlyOneWindowEndsWithIt) {
  make_files(64);
  auto all = windows(64);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].size(), 64u);
}

TEST_F(DirectoryReaderTest, MissingDirectoryIsAnErrno) {
  DirectoryReader reader;
  EXPECT_EQ(reader.open(root_, "missing"), ENOENT);
}

}  // namespace
}  // namespace ft::server
