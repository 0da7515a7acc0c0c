// Filters end to end (issue 13, part 2): ftsend -r and ftget -r with
// --exclude, --include, --exclude-from, --files-from and (ftsend) .ftignore
// files, with the real ftserve; the names that land on disk are checked
// in both directions.
#include <set>

#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

using Names = std::set<std::string>;

class FilterTest : public ServerTest {
 protected:
  RunResult send(std::vector<std::string> args) {
    args.insert(args.begin(), bin("ftsend"));
    return run(args, std::chrono::seconds(60));
  }
  RunResult get(std::vector<std::string> args) {
    args.insert(args.begin(), bin("ftget"));
    return run(args, std::chrono::seconds(60));
  }
  static void make_tree(const fs::path& top) {
    for (const char* file :
         {"a.txt", "b.o", "Makefile", "src/main.c", "src/main.o", "src/lib/util.c",
          "src/lib/keep.o", "build/out.bin", "docs/build/z.txt", "cache/tmp", "notes[1].txt"}) {
      fs::create_directories((top / file).parent_path());
      write_file(top / file, file);
    }
    fs::create_directories(top / "empty");
  }
  static Names names(const fs::path& dir) {
    auto all = tree_names(dir);
    return Names(all.begin(), all.end());
  }
};

// The same rules select the same names whichever way the tree goes.
// "--exclude=src/main.c" before "--include=*.c": the order of the options is
// kept across option names.
const std::vector<std::string> kRules = {
    "--exclude=src/main.c", "--include=keep.o",           "--exclude=*.o", "--exclude=/build/",
    "--exclude=cache/",     "--exclude=notes\\[1\\].txt", "--include=*.c"};
const Names kSelected = {"Makefile", "a.txt", "docs",    "docs/build",     "docs/build/z.txt",
                         "empty",    "src",   "src/lib", "src/lib/keep.o", "src/lib/util.c"};

TEST_F(FilterTest, ExcludeAndIncludeSelectTheSameNamesBothWays) {
  const fs::path source = work_ / "tree";
  make_tree(source);
  std::vector<std::string> up = {"-r", "-q"};
  up.insert(up.end(), kRules.begin(), kRules.end());
  up.insert(up.end(), {source.string() + "/", remote("up")});
  auto sent = send(up);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(names(root_.path() / "up"), kSelected);
  EXPECT_EQ(read_file(root_.path() / "up/src/lib/keep.o"), "src/lib/keep.o");

  make_tree(root_.path() / "whole");
  std::vector<std::string> down = {"-r", "-q"};
  down.insert(down.end(), kRules.begin(), kRules.end());
  down.insert(down.end(), {remote("whole") + "/", (work_ / "down").string()});
  auto fetched = get(down);
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_EQ(names(work_ / "down"), kSelected);
}

TEST_F(FilterTest, ExcludeFromAndFilesFromBothWays) {
  const fs::path source = work_ / "tree";
  make_tree(source);
  write_file(work_ / "rules", "# build products\n*.o\n+ keep.txt\n- /docs/\n");
  write_file(work_ / "list", "src/lib/util.c\nsrc/main.o\ndocs/\n./a.txt\n");
  const Names expected = {"a.txt", "src", "src/lib", "src/lib/util.c"};

  auto sent = send({"-r", "-q", "--exclude-from", (work_ / "rules").string(), "--files-from",
                    (work_ / "list").string(), source.string() + "/", remote("up")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(names(root_.path() / "up"), expected);

  make_tree(root_.path() / "whole");
  auto fetched = get({"-r", "-q", "--exclude-from", (work_ / "rules").string(), "--files-from",
                      (work_ / "list").string(), remote("whole") + "/", (work_ / "down").string()});
  ASSERT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_EQ(names(work_ / "down"), expected);
}

TEST_F(FilterTest, FtignoreAppliesToItsDirectoryAndBelowBeforeTheCommandLine) {
  const fs::path source = work_ / "tree";
  make_tree(source);
  write_file(source / ".ftignore", "/build/\n+ b.o\n");
  write_file(source / "src/.ftignore", "- /lib/\n");
  auto sent = send({"-r", "-q", "--ftignore", "--exclude=*.o", "--exclude=cache", "--exclude",
                    "notes*", source.string(), remote("up")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const Names expected = {
      "tree",       "tree/.ftignore", "tree/Makefile",      "tree/a.txt",
      "tree/b.o",   "tree/docs",      "tree/docs/build",    "tree/docs/build/z.txt",
      "tree/empty", "tree/src",       "tree/src/.ftignore", "tree/src/main.c"};
  EXPECT_EQ(names(root_.path() / "up"), expected);

  // Without --ftignore the files are ordinary names.
  auto plain = send({"-r", "-q", "--exclude=*.o", source.string(), remote("plain")});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_TRUE(fs::exists(root_.path() / "plain/tree/build/out.bin"));
}

TEST_F(FilterTest, BadIgnoreFileFailsItsDirectoryOnly) {
  const fs::path source = work_ / "tree";
  make_tree(source);
  write_file(source / "src/.ftignore", "- \n");
  auto sent = send({"-r", "-q", "--ftignore", source.string() + "/", remote("up")});
  EXPECT_NE(sent.exit_code, 0);
  EXPECT_NE(sent.err.find("bad ignore file: line 1: empty pattern"), std::string::npos) << sent.err;
  EXPECT_TRUE(fs::exists(root_.path() / "up/a.txt"));
  EXPECT_FALSE(fs::exists(root_.path() / "up/src/main.c"));
}

TEST_F(FilterTest, BadFilterOptionsAreUsageErrors) {
  const fs::path source = work_ / "tree";
  make_tree(source);
  auto no_r = send({"--exclude=*.o", (source / "a.txt").string(), remote()});
  EXPECT_EQ(no_r.exit_code, 2);
  EXPECT_NE(no_r.err.find("need -r"), std::string::npos) << no_r.err;
  auto empty = send({"-r", "--exclude=/", source.string(), remote()});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("bad pattern '/': empty pattern"), std::string::npos) << empty.err;
  auto missing =
      get({"-r", "--exclude-from", (work_ / "nope").string(), remote("x"), (work_ / "d").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos) << missing.err;
  write_file(work_ / "list", "../etc/passwd\n");
  auto escape = send({"-r", "--files-from", (work_ / "list").string(), source.string(), remote()});
  EXPECT_EQ(escape.exit_code, 2);
  EXPECT_NE(escape.err.find("leaves the tree"), std::string::npos) << escape.err;
}

}  // namespace
}  // namespace ft::testing
