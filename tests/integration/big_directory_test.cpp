// Directories larger than one window (issue 15, part 3): ftsend -r reads a
// local directory a window at a time and ftget -r takes a remote one in
// PACED windows (docs/protocol.md section 5.17), feeding entries to the
// transfers only while few wait. The test hooks FT_TEST_WALK_WINDOW (the
// clients' local reads) and FT_TEST_LISTING_WINDOW (ftserve's listings)
// shrink the window to 50 entries, so that a few hundred files cross many
// windows: the copies must be the same trees (names, modes, mtimes,
// hashes) with filters and --delete as with one window. The memory bound
// itself is GrowthTest's (a Release figure).
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr const char* kWindow = "50";

// `count` files below `dir` named f000..., each with its own content and
// mtime, plus `excluded` files named x000.tmp; and a subdirectory of 120.
void make_big_source(const fs::path& dir, int count, int excluded) {
  fs::create_directories(dir / "sub");
  char name[32];
  for (int i = 0; i < count; ++i) {
    std::snprintf(name, sizeof name, "f%03d", i);
    write_file(dir / name, "content of " + std::string(name) + "\n");
    set_mtime(dir / name, 1'600'000'000 + i, i);
  }
  for (int i = 0; i < excluded; ++i) {
    std::snprintf(name, sizeof name, "x%03d.tmp", i);
    write_file(dir / name, "scratch\n");
  }
  for (int i = 0; i < 120; ++i) {
    std::snprintf(name, sizeof name, "g%03d", i);
    write_file(dir / "sub" / name, std::string(name) + "\n");
  }
  set_mtime(dir / "sub", 1'500'000'000);
}

// The names whose entries differ between two snapshots, for a failure.
std::string differences(const Snapshot& a, const Snapshot& b) {
  std::string out;
  for (const auto& [name, entry] : a) {
    auto found = b.find(name);
    if (found == b.end()) {
      out += "only in the copy: " + name + "\n";
    } else if (!(found->second == entry)) {
      std::ostringstream line;
      line << name << ": " << entry << " vs " << found->second << "\n";
      out += line.str();
    }
  }
  for (const auto& [name, entry] : b) {
    if (!a.contains(name)) out += "only in the source: " + name + "\n";
  }
  return out;
}

// What a mirror of `dir` holds: everything but the excluded names.
Snapshot without_excluded(Snapshot tree) {
  std::erase_if(tree, [](const auto& item) { return item.first.ends_with(".tmp"); });
  return tree;
}

// A destination that differs: 100 names the source lacks and a directory
// of them, files of the source with other content, and an excluded name
// that --delete keeps. (Nothing to delete inside "sub": a deletion after
// the transfers would move that directory's mtime, which ft does not
// restore.)
void add_differences(const fs::path& dir) {
  fs::create_directories(dir / "sub");
  fs::create_directories(dir / "gone/deeper");
  char name[32];
  for (int i = 0; i < 100; ++i) {
    std::snprintf(name, sizeof name, "old%03d", i);
    write_file(dir / name, "old\n");
  }
  for (int i = 0; i < 300; i += 7) {
    std::snprintf(name, sizeof name, "f%03d", i);
    write_file(dir / name, "stale\n");
  }
  write_file(dir / "gone/deeper/x", "x\n");
  write_file(dir / "keep.tmp", "excluded: kept\n");
}

class BigDirectoryTest : public ServerFixture {
 protected:
  void SetUp() override {
    ::setenv("FT_TEST_WALK_WINDOW", kWindow, 1);
    ::setenv("FT_TEST_LISTING_WINDOW", kWindow, 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
  }
  void TearDown() override {
    ServerFixture::TearDown();
    ::unsetenv("FT_TEST_WALK_WINDOW");
    ::unsetenv("FT_TEST_LISTING_WINDOW");
  }
  RunResult client(const char* program, std::vector<std::string> args) {
    args.insert(args.begin(), bin(program));
    return run(args, std::chrono::seconds(120));
  }
};

TEST_F(BigDirectoryTest, SendStreamsLocalWindowsWithFiltersAndDelete) {
  const fs::path source = work_ / "src";
  make_big_source(source, 300, 40);
  const fs::path dest = root_.path() / "dst";
  add_differences(dest);
  auto sent = client("ftsend", {"-r", "--delete", "--exclude", "*.tmp", "--json",
                                source.string() + "/", remote("dst")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  Snapshot mirror = snapshot(dest);
  EXPECT_EQ(mirror.erase("keep.tmp"), 1u) << "an excluded name is never deleted";
  EXPECT_EQ(differences(mirror, without_excluded(snapshot(source))), "");
  EXPECT_EQ(json_summary(sent.out)["deleted"], 103) << sent.out;  // 100 + gone/deeper/x
  // Again: the remote directory (now 300 files) arrives in windows too, and
  // every file is found unchanged.
  auto again = client("ftsend", {"-r", "--delete", "--exclude", "*.tmp", "--json",
                                 source.string() + "/", remote("dst")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json_paths(again.out, "sent", source).size(), 0u) << again.out;
  EXPECT_EQ(json_paths(again.out, "skipped", source).size(), 420u);
}

TEST_F(BigDirectoryTest, GetTakesPacedWindowsWithFiltersAndDelete) {
  const fs::path source = root_.path() / "src";
  make_big_source(source, 300, 40);
  const fs::path dest = work_ / "dest";
  add_differences(dest);
  auto got = client("ftget", {"-r", "--delete", "--exclude", "*.tmp", "--json", remote("src") + "/",
                              dest.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  Snapshot mirror = snapshot(dest);
  EXPECT_EQ(mirror.erase("keep.tmp"), 1u) << "an excluded name is never deleted";
  EXPECT_EQ(differences(mirror, without_excluded(snapshot(source))), "");
  EXPECT_EQ(json_summary(got.out)["deleted"], 103) << got.out;
  // A dry run of the same finds nothing to do, window after window.
  auto dry = client("ftget", {"-r", "-n", "--delete", "--exclude", "*.tmp", "--json",
                              remote("src") + "/", dest.string()});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(json_paths(dry.out, "received", dest).size(), 0u) << dry.out;
  EXPECT_EQ(json_paths(dry.out, "skipped", dest).size(), 420u);
}

// The wire of PACED (section 5.17): a window of 50 entries, then nothing
// until NEXT; the last window ends with a frame without MORE; a NEXT for a
// request that is no paused listing closes the connection.
TEST_F(BigDirectoryTest, PacedListingWaitsForNextAfterEachWindow) {
  make_big_source(root_.path() / "src", 100, 0);  // 100 files and "sub": 101 entries
  RawClient client(server_.port());
  ASSERT_TRUE(client.send_hello(kCapTrees | kCapPaced));
  ASSERT_TRUE(client.read_hello());
  Bytes list;
  encode_list(list, 7, PathMsg{"src"}, kFlagPaced);
  ASSERT_TRUE(client.send(list));
  // Reads frames of request 7 up to the end of a window or of the listing.
  auto window = [&](bool& paused, bool& more) {
    std::size_t count = 0;
    for (;;) {
      auto frame = client.read_frame();
      if (!frame) {
        ADD_FAILURE() << "no frame";
        return count;
      }
      EXPECT_EQ(frame->header.type, FrameType::kEntries);
      auto message = decode_entries(*frame);
      if (!message) {
        ADD_FAILURE() << "malformed ENTRIES";
        return count;
      }
      count += message->entries.size();
      paused = message->paused;
      more = message->more;
      if (paused || !more) return count;
    }
  };
  bool paused = false, more = false;
  EXPECT_EQ(window(paused, more), 50u);
  EXPECT_TRUE(paused);
  // Nothing more comes until NEXT: the next frame read is the reply to a
  // STAT sent now.
  Bytes stat;
  encode_stat(stat, 8, PathMsg{"src/sub"});
  ASSERT_TRUE(client.send(stat));
  auto reply = client.read_frame();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->header.request_id, 8u);
  Bytes next;
  encode_next(next, 7);
  ASSERT_TRUE(client.send(next));
  EXPECT_EQ(window(paused, more), 50u);
  EXPECT_TRUE(paused);
  next.clear();
  encode_next(next, 7);
  ASSERT_TRUE(client.send(next));
  EXPECT_EQ(window(paused, more), 1u);
  EXPECT_FALSE(paused);
  EXPECT_FALSE(more);
  // The listing is over: another NEXT is a protocol error.
  next.clear();
  encode_next(next, 7);
  ASSERT_TRUE(client.send(next));
  auto error = client.read_frame();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->header.type, FrameType::kError);
  EXPECT_FALSE(client.read_frame(std::chrono::seconds(5)));  // closed
}

// A flat directory of many empty files in windows of 300 (issue 15, part
// 3): ftget -r keeps hundreds of small GETs in flight while it asks for the
// next window (empty files: each reserves a small file's read-ahead, and
// they come back faster than ftget's files land, so hundreds pile up), and ftserve then refuses to start that window until their
// read-ahead is given back. Nothing woke it when it was (small files'
// replies go out with the outbox), and a paused listing kept its window
// counted, which the next one waited for: the transfer stalled after one
// or two windows, for ever.
class PacedFlatDirectoryTest : public ServerFixture {
 protected:
  void SetUp() override {
    ::setenv("FT_TEST_LISTING_WINDOW", "300", 1);
    ASSERT_NO_FATAL_FAILURE(start_server());
  }
  void TearDown() override {
    ServerFixture::TearDown();
    ::unsetenv("FT_TEST_LISTING_WINDOW");
  }
};

TEST_F(PacedFlatDirectoryTest, GetOfThousandsOfSmallFilesCrossesEveryWindow) {
  constexpr int kFiles = 3000;
  const fs::path source = root_.path() / "flat";
  fs::create_directories(source);
  char name[32];
  for (int i = 0; i < kFiles; ++i) {
    std::snprintf(name, sizeof name, "f%05d", i);
    write_file(source / name, "");
  }
  const fs::path dest = work_ / "dest";
  // The stall showed as ftget waiting until this deadline.
  auto got =
      run({bin("ftget"), "-q", "-r", remote("flat"), dest.string()}, std::chrono::seconds(90));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(snapshot(dest / "flat"), snapshot(source));
}

}  // namespace
}  // namespace ft::testing
