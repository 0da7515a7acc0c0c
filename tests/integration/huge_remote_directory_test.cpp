// ftsend -r into a remote directory that already holds more than one
// listing window (issue 15, part 3: the nightly backup's second run). The
// client then keeps neither listing: it cancels the paced LIST after its
// first window, compares each file and link through a STAT of its own,
// lists the directory again for --delete (each remote name looked up in
// the local directory), and sends LINK without looking for --link-dest
// (docs/client.md, "Memory and speed"). FT_TEST_LISTING_WINDOW shrinks
// ftserve's window to 300 entries and FT_TEST_WALK_WINDOW the client's
// local reads, so that 1,500 files cross several windows on both
// sides; the copies must be the source by name, mode, mtime and hash. The
// memory bound itself is GrowthTest's (a Release figure).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>

#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr int kFiles = 1500;

std::string file_name(const char* prefix, int i) {
  char name[32];
  std::snprintf(name, sizeof name, "%s%04d", prefix, i);
  return name;
}

// kFiles files f0000... with their own content and mtime, 5 symbolic links
// to them, and a small subdirectory.
void make_source(const fs::path& dir) {
  fs::create_directories(dir / "sub");
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = file_name("f", i);
    write_file(dir / name, "content of " + name + "\n");
    set_mtime(dir / name, 1'600'000'000 + i, i);
  }
  for (int i = 0; i < 5; ++i) {
    fs::create_symlink(file_name("f", i), dir / file_name("l", i));
  }
  for (int i = 0; i < 5; ++i) write_file(dir / "sub" / file_name("g", i), "g\n");
  set_mtime(dir / "sub", 1'500'000'000);
}

// The source without its excluded names (*.tmp).
Snapshot without_excluded(Snapshot tree) {
  std::erase_if(tree, [](const auto& item) { return item.first.ends_with(".tmp"); });
  return tree;
}

class HugeRemoteDirectoryTest : public ServerFixture {
 protected:
  void SetUp() override {
    ::setenv("FT_TEST_WALK_WINDOW", "300", 1);
    ::setenv("FT_TEST_LISTING_WINDOW", "300", 1);
    // No access lines: one per STAT (thousands per run) would fill the
    // stderr pipe the test reads only at the end, and block ftserve.
    ASSERT_NO_FATAL_FAILURE(start_server({"--access-log", "off", "--metrics", "127.0.0.1:0"}));
    ASSERT_TRUE(server_.wait_for_err("/metrics (unauthenticated)")) << server_.err();
    std::smatch match;
    const std::string err = server_.err();
    ASSERT_TRUE(
        std::regex_search(err, match, std::regex(R"(metrics on http://[^/]*:(\d+)/metrics)")))
        << err;
    metrics_port_ = std::stoi(match[1].str());
  }
  /// ft_requests_total for `op` with result ok, as ftserve counts it now.
  long requests_ok(const std::string& op) {
    const std::string page = http_exchange(metrics_port_, "GET /metrics HTTP/1.0\r\n\r\n");
    std::smatch match;
    const std::regex line("ft_requests_total\\{op=\"" + op + "\",result=\"ok\"\\} (\\d+)");
    return std::regex_search(page, match, line) ? std::stol(match[1].str()) : 0;
  }
  int metrics_port_ = 0;
  void TearDown() override {
    ServerFixture::TearDown();
    ::unsetenv("FT_TEST_WALK_WINDOW");
    ::unsetenv("FT_TEST_LISTING_WINDOW");
  }
  RunResult send(std::vector<std::string> args) {
    args.insert(args.begin(), bin("ftsend"));
    return run(args, std::chrono::seconds(120));
  }
  static struct stat stat_of(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
};

TEST_F(HugeRemoteDirectoryTest, SecondSendSkipsUnchangedSendsChangesAndDeletesAcrossWindows) {
  const fs::path source = work_ / "src";
  make_source(source);
  const fs::path dest = root_.path() / "dst";
  auto first = send({"-r", "--json", source.string() + "/", remote("dst")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(json_summary(first.out)["files"], kFiles + 5) << first.out;
  ASSERT_EQ(snapshot(dest), snapshot(source));

  // Changes spread over the windows: 10 files with new content (one of
  // them the same size, only its mtime tells), 20 new files, 30 removed
  // (the server's copies are deleted), a link pointed elsewhere, and
  // excluded scratch files on both sides (kept on the server).
  for (int i = 0; i < kFiles; i += kFiles / 10) {
    write_file(source / file_name("f", i), "changed content " + std::to_string(i) + "\n");
  }
  write_file(source / file_name("f", 7), "content of f9999\n");  // same size, new mtime
  for (int i = 0; i < 20; ++i) write_file(source / file_name("n", i), "new\n");
  for (int i = 1; i < 31; ++i) fs::remove(source / file_name("f", i * 47));
  fs::remove(source / file_name("l", 2));
  fs::create_symlink(file_name("f", kFiles - 1), source / file_name("l", 2));
  for (int i = 0; i < 5; ++i) write_file(source / file_name("x", i).append(".tmp"), "scratch\n");
  write_file(dest / "keep.tmp", "excluded: kept\n");

  auto second = send(
      {"-r", "--json", "--delete", "--exclude", "*.tmp", source.string() + "/", remote("dst")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto summary = json_summary(second.out);
  EXPECT_EQ(summary["files"], 10 + 1 + 20) << second.out;
  EXPECT_EQ(summary["deleted"], 30) << second.out;
  EXPECT_EQ(summary["links_created"], 1) << "the re-pointed link: " << second.out;
  Snapshot mirror = snapshot(dest);
  EXPECT_EQ(mirror.erase("keep.tmp"), 1u) << "an excluded name is never deleted";
  EXPECT_EQ(mirror, without_excluded(snapshot(source)));

  // Once more: nothing to send, nothing to delete.
  auto third = send(
      {"-r", "--json", "--delete", "--exclude", "*.tmp", source.string() + "/", remote("dst")});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(json_summary(third.out)["files"], 0) << third.out;
  EXPECT_EQ(json_summary(third.out)["deleted"], 0) << third.out;
  EXPECT_EQ(json_summary(third.out)["links_created"], 0) << third.out;
}

// --checksum against a huge directory holds no listing either: a remote
// file of the local one's size is asked for its hash with a GET at offset
// = size (no data), so content decides, not the mtime.
TEST_F(HugeRemoteDirectoryTest, ChecksumAsksEachSameSizedFileForItsHash) {
  const fs::path source = work_ / "src";
  make_source(source);
  const fs::path dest = root_.path() / "dst";
  auto first = send({"-r", "-q", source.string() + "/", remote("dst")});
  ASSERT_EQ(first.exit_code, 0) << first.err;

  // Every file gets a new mtime; 10 get other content of the same size
  // (only the hash tells), 5 other content of another size.
  int same_size = 0, other_size = 0;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = file_name("f", i);
    if (i % 150 == 3) {
      std::string content = "content of " + name + "\n";
      content[0] = 'C';
      write_file(source / name, content);
      ++same_size;
    } else if (i % 300 == 5) {
      write_file(source / name, "longer content than before: " + name + "\n");
      ++other_size;
    }
    set_mtime(source / name, 1'700'000'000 + i);
  }
  ASSERT_EQ(same_size, 10);
  ASSERT_EQ(other_size, 5);
  const long gets_before = requests_ok("get");
  auto second = send({"-r", "--json", "--checksum", source.string() + "/", remote("dst")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(json_summary(second.out)["files"], same_size + other_size) << second.out;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = file_name("f", i);
    ASSERT_EQ(read_file(dest / name), read_file(source / name)) << name;
  }
  // One hash question per file of an unchanged size, none for the others:
  // the listing was not held (it carries the hashes and needs no GET).
  EXPECT_EQ(requests_ok("get") - gets_before, kFiles - other_size);
}

TEST_F(HugeRemoteDirectoryTest, LinkDestAgainstAHugeReferenceLinksTheUnchanged) {
  const fs::path source = work_ / "src";
  make_source(source);
  auto first = send({"-r", "-q", source.string() + "/", remote("snap/1")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  for (int i = 0; i < kFiles; i += kFiles / 10) {
    write_file(source / file_name("f", i), "changed content " + std::to_string(i) + "\n");
  }
  for (int i = 0; i < 5; ++i) write_file(source / file_name("n", i), "new\n");
  auto second =
      send({"-r", "--json", "--link-dest", "snap/1", source.string() + "/", remote("snap/2")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(json_summary(second.out)["files"], 10 + 5) << second.out;
  const fs::path one = root_.path() / "snap/1";
  const fs::path two = root_.path() / "snap/2";
  EXPECT_EQ(snapshot(two), snapshot(source));
  for (int i = 1; i < kFiles; i += 331) {
    const std::string name = file_name("f", i);
    EXPECT_EQ(stat_of(one / name).st_ino, stat_of(two / name).st_ino) << name << " not linked";
  }
  EXPECT_EQ(stat_of(two / file_name("f", 300)).st_nlink, 1u) << "a changed file is its own";
  EXPECT_EQ(read_file(one / file_name("f", 300)), "content of f0300\n");  // reference untouched
}

}  // namespace
}  // namespace ft::testing
