// Mirrors (issue 13, part 1): ftsend -r --delete and ftget -r --delete with
// the real ftserve. After a run the destination holds exactly the source's
// names (checked on disk, with their bytes), a link is removed itself and
// never what it points to, excluded names stay unless --delete-excluded, a
// failed or interrupted run deletes nothing, an identity without the
// `delete` right (or an --append-only server) is refused with a clear
// error, and --max-delete stops at N with exit status 11.
#include <sys/stat.h>

#include <set>

#include "support/resume_fixture.hpp"
#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

using Names = std::set<std::string>;
constexpr int kExitPartial = static_cast<int>(Exit::kPartial);
constexpr int kExitDeleteLimit = static_cast<int>(Exit::kDeleteLimit);

Names names(const fs::path& dir) {
  auto all = lexical_tree_names(dir);
  return Names(all.begin(), all.end());
}

// The source: two files, a link, a nested directory.
void make_source(const fs::path& top) {
  fs::create_directories(top / "sub/deeper");
  write_file(top / "a.txt", "a\n");
  write_file(top / "sub/b.txt", "b\n");
  write_file(top / "sub/deeper/c.txt", "c\n");
  fs::create_symlink("a.txt", top / "link");
}
const Names kSourceNames = {"a.txt", "link", "sub", "sub/b.txt", "sub/deeper", "sub/deeper/c.txt"};

// What the source lacks, in a destination: files, links (one to a
// directory outside the tree, whose content must survive), nested
// directories with content, an empty directory.
void add_extras(const fs::path& top, const fs::path& outside) {
  fs::create_directories(top / "gone/deep/er");
  fs::create_directories(top / "sub/empty");
  write_file(top / "old.txt", "old\n");
  write_file(top / "sub/stale.txt", "stale\n");
  write_file(top / "gone/x.txt", "x\n");
  write_file(top / "gone/deep/er/y.txt", "y\n");
  fs::create_symlink("../a.txt", top / "gone/deep/l");
  fs::create_directories(outside);
  write_file(outside / "precious", "keep me\n");
  fs::create_symlink(outside, top / "out");
}

class DeleteTest : public ServerFixture {
 protected:
  RunResult send(std::vector<std::string> args) {
    args.insert(args.begin(), bin("ftsend"));
    return run(args, std::chrono::seconds(60));
  }
  RunResult get(std::vector<std::string> args) {
    args.insert(args.begin(), bin("ftget"));
    return run(args, std::chrono::seconds(60));
  }
};

TEST_F(DeleteTest, SendDeleteMirrorsFilesLinksAndNestedDirectories) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  make_source(work_ / "src");
  add_extras(root_.path() / "dst", work_ / "outside");
  auto sent =
      send({"-r", "--links", "--delete", "-v", (work_ / "src").string() + "/", remote("dst")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(names(root_.path() / "dst"), kSourceNames);
  EXPECT_EQ(read_file(root_.path() / "dst/sub/deeper/c.txt"), "c\n");
  EXPECT_EQ(fs::read_symlink(root_.path() / "dst/link"), "a.txt");
  // The link to a directory outside was removed, not what it points to.
  EXPECT_EQ(read_file(work_ / "outside/precious"), "keep me\n");
  EXPECT_NE(sent.out.find("deleted dst/gone/deep/er/"), std::string::npos) << sent.out;
  // Files before directories, the deepest directory first.
  const auto file = sent.out.find("deleted dst/gone/x.txt\n");
  const auto deep = sent.out.find("deleted dst/gone/deep/er/\n");
  const auto top = sent.out.find("deleted dst/gone/\n");
  ASSERT_NE(file, std::string::npos) << sent.out;
  ASSERT_NE(top, std::string::npos) << sent.out;
  EXPECT_LT(file, deep);
  EXPECT_LT(deep, top);
  EXPECT_EQ(visible_tree_names(root_.path()), tree_names(root_.path())) << "leftover hidden state";
}

TEST_F(DeleteTest, GetDeleteMirrorsLocallyInsideTheDestinationOnly) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  make_source(root_.path() / "src");
  const fs::path dest = work_ / "dest";
  add_extras(dest, work_ / "outside");
  write_file(work_ / "beside.txt", "not in the destination\n");
  auto got = get({"-r", "--links", "--delete", "--json", remote("src") + "/", dest.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(names(dest), kSourceNames);
  EXPECT_EQ(read_file(dest / "sub/b.txt"), "b\n");
  EXPECT_EQ(read_file(work_ / "outside/precious"), "keep me\n");
  EXPECT_EQ(read_file(work_ / "beside.txt"), "not in the destination\n");
  auto deleted = json_paths(got.out, "deleted", dest);
  EXPECT_EQ(deleted.size(), 10u) << got.out;
  EXPECT_EQ(json_summary(got.out)["deleted"], 10) << got.out;
}

// Deleting a name changes its directory's mtime after the transfer set
// it: the run sets it back (rsync -a keeps directory times through
// --delete), both ways, for the top and a nested directory.
TEST_F(DeleteTest, DirectoriesThatLostNamesKeepTheSourceMtime) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  auto stamp = [](const fs::path& top) {
    set_mtime(top / "sub/deeper", 1'500'000'000, 111);
    set_mtime(top / "sub", 1'500'000'100, 222);
    set_mtime(top, 1'500'000'200, 333);
  };
  auto mtime_of = [](const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return mtime_ns_of(st);
  };
  make_source(work_ / "src");
  stamp(work_ / "src");
  add_extras(root_.path() / "dst", work_ / "outside");
  auto sent = send({"-r", "--links", "--delete", (work_ / "src").string() + "/", remote("dst")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ASSERT_EQ(names(root_.path() / "dst"), kSourceNames);
  for (const char* dir : {"", "sub", "sub/deeper"}) {
    EXPECT_EQ(mtime_of(root_.path() / "dst" / dir), mtime_of(work_ / "src" / dir))
        << "ftsend: dst/" << dir;
  }

  make_source(root_.path() / "from");
  stamp(root_.path() / "from");
  const fs::path dest = work_ / "dest";
  add_extras(dest / "from", work_ / "outside2");
  auto got = get({"-r", "--links", "--delete", remote("from"), dest.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  ASSERT_EQ(names(dest / "from"), kSourceNames);
  for (const char* dir : {"", "sub", "sub/deeper"}) {
    EXPECT_EQ(mtime_of(dest / "from" / dir), mtime_of(root_.path() / "from" / dir))
        << "ftget: from/" << dir;
  }
}

TEST_F(DeleteTest, DryRunListsAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  make_source(work_ / "src");
  add_extras(root_.path() / "dst", work_ / "outside");
  const auto before = snapshot(root_.path());
  auto sent = send(
      {"-r", "--links", "--delete", "--dry-run", (work_ / "src").string() + "/", remote("dst")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(snapshot(root_.path()), before);
  for (const char* name : {"dst/old.txt", "dst/gone/deep/er/y.txt", "dst/gone/", "dst/out"}) {
    EXPECT_NE(sent.out.find(std::string("would delete ") + name), std::string::npos) << name << "\n"
                                                                                     << sent.out;
  }
  // ftget: the same, locally.
  make_source(root_.path() / "tree");
  add_extras(work_ / "local", work_ / "outside2");
  const auto local_before = snapshot(work_ / "local");
  auto got =
      get({"-r", "--links", "--delete", "-n", remote("tree") + "/", (work_ / "local").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(snapshot(work_ / "local"), local_before);
  EXPECT_NE(got.out.find("would delete"), std::string::npos) << got.out;
}

TEST_F(DeleteTest, ExcludedNamesAreKeptUnlessDeleteExcluded) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  make_source(work_ / "src");
  write_file(work_ / "src/skip.o", "local object\n");
  add_extras(root_.path() / "dst", work_ / "outside");
  write_file(root_.path() / "dst/skip.o", "remote object\n");
  write_file(root_.path() / "dst/gone/keep.o", "inside a directory to delete\n");
  auto sent = send({"-r", "--links", "--delete", "--exclude=*.o", (work_ / "src").string() + "/",
                    remote("dst")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  Names expected = kSourceNames;
  // skip.o is excluded: kept; gone/keep.o too, so gone stays (with it alone).
  expected.insert({"skip.o", "gone", "gone/keep.o"});
  EXPECT_EQ(names(root_.path() / "dst"), expected);
  EXPECT_EQ(read_file(root_.path() / "dst/skip.o"), "remote object\n");

  auto again = send({"-r", "--links", "--delete", "--delete-excluded", "--exclude=*.o",
                     (work_ / "src").string() + "/", remote("dst")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(names(root_.path() / "dst"), kSourceNames);
}

TEST_F(DeleteTest, FailedRunDeletesNothing) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  make_source(work_ / "src");
  // A name the server reserves is refused: the run is partial. (A link
  // leaving the tree is no failure since ARCHIVE: it is stored verbatim.)
  write_file(work_ / "src/.ft-reserved", "refused by the server\n");
  add_extras(root_.path() / "dst", work_ / "outside");
  const Names before = names(root_.path() / "dst");
  auto sent = send({"-r", "--links", "--delete", (work_ / "src").string() + "/", remote("dst")});
  EXPECT_EQ(sent.exit_code, kExitPartial) << sent.err;
  EXPECT_NE(sent.err.find("nothing deleted"), std::string::npos) << sent.err;
  Names after = names(root_.path() / "dst");
  for (const std::string& name : before) EXPECT_TRUE(after.contains(name)) << name;

  // ftget: a file on the server where the local tree has a directory
  // fails the run.
  make_source(root_.path() / "tree");
  write_file(root_.path() / "tree/clash", "a file on the server\n");
  add_extras(work_ / "local", work_ / "outside2");
  fs::create_directories(work_ / "local/clash");
  write_file(work_ / "local/clash/inner", "a directory here\n");
  auto got = get(
      {"-r", "--links", "--delete", "--json", remote("tree") + "/", (work_ / "local").string()});
  EXPECT_EQ(got.exit_code, kExitPartial) << got.err;
  EXPECT_TRUE(fs::exists(work_ / "local/old.txt"));
  EXPECT_TRUE(fs::exists(work_ / "local/gone/deep/er/y.txt"));
  EXPECT_EQ(json_summary(got.out)["deletes_skipped"], true) << got.out;
}

TEST_F(DeleteTest, MaxDeleteStopsAtNWithStatus11) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  make_source(work_ / "src");
  fs::create_directories(root_.path() / "dst");
  for (int i = 0; i < 5; ++i) write_file(root_.path() / "dst" / ("x" + std::to_string(i)), "x");
  auto sent = send({"-r", "--delete", "--max-delete", "2", "--links",
                    (work_ / "src").string() + "/", remote("dst")});
  EXPECT_EQ(sent.exit_code, kExitDeleteLimit) << sent.err;
  EXPECT_NE(sent.err.find("3 names were not deleted: more than --max-delete 2"), std::string::npos)
      << sent.err;
  EXPECT_EQ(names(root_.path() / "dst").size(), kSourceNames.size() + 3);

  auto got =
      get({"-r", "--delete", "--max-delete", "0", remote("dst") + "/", (work_ / "copy").string()});
  EXPECT_EQ(got.exit_code, 0) << got.err;  // nothing to delete: not over the limit
  write_file(work_ / "copy/extra", "e");
  got =
      get({"-r", "--delete", "--max-delete", "0", remote("dst") + "/", (work_ / "copy").string()});
  EXPECT_EQ(got.exit_code, kExitDeleteLimit) << got.err;
  EXPECT_TRUE(fs::exists(work_ / "copy/extra"));
}

TEST_F(DeleteTest, WithoutTheDeleteRightOrAppendOnlyIsRefused) {
  const fs::path keys = work_ / "keys";
  RunResult added = run({bin("ftserve"), "keys", "add", "writer", "--keys", keys.string(),
                         "--rights", "list,read,create,overwrite"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const fs::path key = work_ / "writer.key";
  write_file(key, added.out);
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_NO_FATAL_FAILURE(start_server({"--keys", keys.string()}));
  make_source(work_ / "src");
  fs::create_directories(root_.path() / "dst");
  write_file(root_.path() / "dst/old.txt", "old\n");
  auto sent = send({"--key-file", key.string(), "-r", "--delete", "--links",
                    (work_ / "src").string() + "/", remote("dst")});
  // The files were sent, the deletion refused: a partial run.
  EXPECT_EQ(sent.exit_code, kExitPartial) << sent.err;
  EXPECT_NE(sent.err.find("lacks the 'delete' right"), std::string::npos) << sent.err;
  EXPECT_NE(sent.err.find("FORBIDDEN"), std::string::npos) << sent.err;
  EXPECT_EQ(read_file(root_.path() / "dst/old.txt"), "old\n");
  EXPECT_EQ(read_file(root_.path() / "dst/a.txt"), "a\n");  // the transfers happened

  server_.stop(SIGTERM);
  ASSERT_NO_FATAL_FAILURE(start_server({"--append-only"}));
  sent = send({"-r", "--delete", "--links", (work_ / "src").string() + "/", remote("dst")});
  EXPECT_EQ(sent.exit_code, kExitPartial) << sent.err;
  EXPECT_NE(sent.err.find("--append-only"), std::string::npos) << sent.err;
  EXPECT_EQ(read_file(root_.path() / "dst/old.txt"), "old\n");
}

TEST_F(DeleteTest, OptionsNeedRecursiveAndDelete) {
  EXPECT_EQ(send({"--delete", "a", "127.0.0.1:1"}).exit_code, 2);
  EXPECT_EQ(send({"-r", "--max-delete", "3", "a", "127.0.0.1:1"}).exit_code, 2);
  EXPECT_EQ(get({"-r", "--delete-excluded", "127.0.0.1:1/a", "b"}).exit_code, 2);
}

// SIGINT while a file is on its way: exit 1, nothing deleted.
class InterruptedDeleteTest : public ResumeTest {};

TEST_F(InterruptedDeleteTest, InterruptedRunDeletesNothing) {
  fs::create_directories(work_ / "src");
  write_random_file(work_ / "src/big", 8 * kMiB, 21);
  fs::create_directories(root_ / "dst/gone");
  write_file(root_ / "dst/old.txt", "old\n");
  write_file(root_ / "dst/gone/x", "x\n");
  auto proxy = start_proxy({"--stall-after", std::to_string(2 * kMiB)});
  BackgroundProcess sender;
  sender.start(
      {bin("ftsend"), "-r", "--delete", (work_ / "src").string() + "/", via(*proxy, "dst")});
  ASSERT_TRUE(proxy->wait_for_line("stalled")) << proxy->err();
  sender.signal(SIGINT);
  RunResult stopped = sender.finish();
  EXPECT_EQ(stopped.exit_code, static_cast<int>(Exit::kFailure)) << stopped.err;
  EXPECT_NE(stopped.err.find("nothing deleted"), std::string::npos) << stopped.err;
  EXPECT_EQ(read_file(root_ / "dst/old.txt"), "old\n");
  EXPECT_EQ(read_file(root_ / "dst/gone/x"), "x\n");
  proxy->stop(SIGTERM);
}

}  // namespace
}  // namespace ft::testing
