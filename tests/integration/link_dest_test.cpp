// Dated snapshots that cost only the changes (issue 13, part 3): ftsend -r
// --link-dest REMOTE_DIR against the real ftserve. A file unchanged against
// the reference is hard-linked by the server (LINK) instead of sent: the
// second snapshot of an unchanged tree moves no file data, shares every
// inode with the first (st_nlink 2) and takes no new data blocks (du).
#include <sys/stat.h>

#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

class LinkDestTest : public ServerTest {
 protected:
  RunResult send(std::vector<std::string> args) {
    args.insert(args.begin(), bin("ftsend"));
    return run(args, std::chrono::seconds(60));
  }
  void make_source() {
    fs::create_directories(work_ / "src/sub");
    write_file(work_ / "src/a.txt", "a\n");
    write_random_file(work_ / "src/sub/big.bin", 4 * kMiB, 7);
    write_random_file(work_ / "src/sub/other.bin", kMiB, 8);
  }
  static struct stat stat_of(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  // Kilobytes of disk `du` counts under `dir` (a hard-linked file once).
  static long du_kib(const fs::path& dir) {
    RunResult du = run({"/usr/bin/du", "-sk", dir.string()});
    EXPECT_EQ(du.exit_code, 0) << du.err;
    return std::stol(du.out);
  }
};

TEST_F(LinkDestTest, UnchangedTreeMovesNoDataAndUsesNoNewBlocks) {
  make_source();
  auto first = send({"-r", "-q", (work_ / "src").string() + "/", remote("snap/1")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const long before = du_kib(root_.path());

  auto second = send(
      {"-r", "--json", "--link-dest", "snap/1", (work_ / "src").string() + "/", remote("snap/2")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto summary = json_summary(second.out);
  EXPECT_EQ(summary["files"], 0) << second.out;
  EXPECT_EQ(summary["bytes"], 0) << second.out;
  EXPECT_EQ(summary["unchanged"], 3) << second.out;
  for (const char* name : {"a.txt", "sub/big.bin", "sub/other.bin"}) {
    const struct stat one = stat_of(root_.path() / "snap/1" / name);
    const struct stat two = stat_of(root_.path() / "snap/2" / name);
    EXPECT_EQ(one.st_ino, two.st_ino) << name;
    EXPECT_EQ(two.st_nlink, 2u) << name;
    EXPECT_EQ(file_hash(root_.path() / "snap/2" / name), file_hash(work_ / "src" / name));
  }
  // Only the new directories: far less than the 5 MiB of data.
  EXPECT_LT(du_kib(root_.path()) - before, 64);
  EXPECT_EQ(visible_tree_names(root_.path()), tree_names(root_.path())) << "leftover temp";
}

TEST_F(LinkDestTest, ChangedFilesAreSentTheRestLinked) {
  make_source();
  auto first = send({"-r", "-q", (work_ / "src").string() + "/", remote("snap/1")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  write_file(work_ / "src/a.txt", "a changed\n");
  write_file(work_ / "src/new.txt", "new\n");
  auto second = send(
      {"-r", "--json", "--link-dest", "snap/1/", (work_ / "src").string() + "/", remote("snap/2")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto summary = json_summary(second.out);
  EXPECT_EQ(summary["files"], 2) << second.out;
  EXPECT_EQ(summary["unchanged"], 2) << second.out;
  EXPECT_EQ(read_file(root_.path() / "snap/2/a.txt"), "a changed\n");
  EXPECT_EQ(read_file(root_.path() / "snap/1/a.txt"), "a\n");  // the reference is untouched
  EXPECT_EQ(stat_of(root_.path() / "snap/2/a.txt").st_nlink, 1u);
  EXPECT_EQ(stat_of(root_.path() / "snap/2/sub/big.bin").st_nlink, 2u);

  // --checksum: same content with another mtime is linked (by hash).
  set_mtime(work_ / "src/sub/other.bin", 1'600'000'000);
  auto third = send({"-r", "--json", "--checksum", "--link-dest", "snap/2",
                     (work_ / "src").string() + "/", remote("snap/3")});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(json_summary(third.out)["files"], 0) << third.out;
  EXPECT_EQ(stat_of(root_.path() / "snap/3/sub/other.bin").st_nlink, 3u);
}

TEST_F(LinkDestTest, MissingReferenceSendsEverythingAndBadOptionsAreRefused) {
  make_source();
  auto sent = send({"-r", "--json", "--link-dest", "snap/none", (work_ / "src").string() + "/",
                    remote("snap/1")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(json_summary(sent.out)["files"], 3) << sent.out;
  EXPECT_EQ(send({"--link-dest", "x", (work_ / "src/a.txt").string(), remote()}).exit_code, 2);
  EXPECT_EQ(send({"-r", "--link-dest", "../x", (work_ / "src").string(), remote()}).exit_code, 2);
}

}  // namespace
}  // namespace ft::testing
