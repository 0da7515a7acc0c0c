// A tree run whose connection is cut and retried: the files an earlier
// attempt skipped as unchanged are neither reported nor counted again
// (their paths are settled like those transferred), so --json reports each
// path once and the summary adds up to the tree, both ways.
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/resume_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr int kFiles = 400;
constexpr int kUnchanged = 200;  // the first ones, by name, already on the other side

class TreeRetryTest : public ResumeTest {
 protected:
  // kFiles files of 3-5 KB in three directories below `top`; their
  // relative names, sorted.
  static std::vector<std::string> make_tree(const fs::path& top) {
    return write_small_tree(top, kFiles, 300, "f%03d");
  }
  // Copies the first kUnchanged of `names` from `from` to `to` with their
  // mtimes: unchanged for the run.
  static void copy_unchanged(const std::vector<std::string>& names, const fs::path& from,
                             const fs::path& to) {
    for (int i = 0; i < kUnchanged; ++i) {
      fs::create_directories((to / names[i]).parent_path());
      fs::copy_file(from / names[i], to / names[i]);
      fs::last_write_time(to / names[i], fs::last_write_time(from / names[i]));
    }
  }
  // Each path is reported once, skipped or moved: the unchanged ones
  // skipped, and those an earlier attempt moved but whose OK the cut lost
  // may be skipped by the retry too (the server committed them).
  static void expect_each_once(const std::string& out, const fs::path& base,
                               const std::vector<std::string>& names) {
    const std::vector<std::string> skipped = json_paths(out, "skipped", base);
    std::vector<std::string> reported = skipped;
    for (auto& path : json_paths(out, "received", base)) reported.push_back(path);
    for (auto& path : json_paths(out, "sent", base)) reported.push_back(path);
    std::sort(reported.begin(), reported.end());
    EXPECT_EQ(reported, names) << "each file is reported once, skipped or moved";
    for (int i = 0; i < kUnchanged; ++i) {
      EXPECT_TRUE(std::binary_search(skipped.begin(), skipped.end(), names[i])) << names[i];
    }
    auto summary = json_summary(out);
    EXPECT_EQ(summary.value("skipped", -1), static_cast<int>(skipped.size()));
    EXPECT_EQ(summary.value("files", -1) + summary.value("skipped", -1), kFiles);
  }
};

TEST_F(TreeRetryTest, ADownloadRetriedReportsItsUnchangedFilesOnce) {
  const std::vector<std::string> names = make_tree(root_.path() / "t");
  const fs::path back = work_ / "back";
  copy_unchanged(names, root_.path() / "t", back / "t");
  // The listing and the first files pass, then the cut (per connection:
  // the retry fetches what is left, and may be cut again).
  ProxiedRun proxied = run_through_proxy(
      {"--cut-downstream-after", std::to_string(300 * 1024)}, [&](const std::string& address) {
        return std::vector<std::string>{bin("ftget"), "--json", "-r", address + "/t",
                                        back.string()};
      });
  ASSERT_EQ(proxied.result.exit_code, 0) << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("ftget: connection lost ("), std::string::npos)
      << proxied.result.err;
  expect_each_once(proxied.result.out, back / "t", names);
  for (const std::string& name : names) {
    EXPECT_EQ(file_hash(back / "t" / name), file_hash(root_.path() / "t" / name)) << name;
  }
}

TEST_F(TreeRetryTest, AnUploadRetriedReportsItsUnchangedFilesOnce) {
  const fs::path source = work_ / "t";
  const std::vector<std::string> names = make_tree(source);
  copy_unchanged(names, source, root_.path() / "t");
  ProxiedRun proxied = run_through_proxy(
      {"--cut-after", std::to_string(300 * 1024)}, [&](const std::string& address) {
        return std::vector<std::string>{bin("ftsend"), "--json", "-r", source.string(), address};
      });
  ASSERT_EQ(proxied.result.exit_code, 0) << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("ftsend: connection lost ("), std::string::npos)
      << proxied.result.err;
  expect_each_once(proxied.result.out, source, names);
  for (const std::string& name : names) {
    EXPECT_EQ(file_hash(root_.path() / "t" / name), file_hash(source / name)) << name;
  }
}

}  // namespace
}  // namespace ft::testing
