// Incremental tree copies (issue 3): rsync's quick check (size and mtime),
// --checksum, --ignore-existing and --dry-run, read through --json.
#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

constexpr int kSampleFiles = 9;  // regular files in make_sample_tree

class IncrementalTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    source_ = work_ / "tree";
    make_sample_tree(source_);
  }
  RunResult send(std::vector<std::string> options) {
    std::vector<std::string> argv = {bin("ftsend"), "-r", "--json"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(source_.string());
    argv.push_back(remote("backup"));
    return run(argv, std::chrono::seconds(60));
  }
  fs::path remote_path(const std::string& name) const {
    return root_.path() / "backup/tree" / name;
  }
  fs::path source_;
};

TEST_F(IncrementalTest, SecondIdenticalRunSkipsEverything) {
  auto first = send({});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(json_summary(first.out).value("files", -1), kSampleFiles);
  const Snapshot after_first = snapshot(root_.path());

  auto second = send({});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto summary = json_summary(second.out);
  EXPECT_EQ(summary.value("files", -1), 0) << second.out;
  EXPECT_EQ(summary.value("skipped", -1), kSampleFiles) << second.out;
  EXPECT_EQ(summary.value("failed", -1), 0);
  EXPECT_EQ(summary.value("exit_code", -1), 0);
  EXPECT_TRUE(json_paths(second.out, "sent", work_.path()).empty());
  EXPECT_EQ(snapshot(root_.path()), after_first);
}

TEST_F(IncrementalTest, OnlyTheChangedFileIsSent) {
  ASSERT_EQ(send({}).exit_code, 0);
  write_file(source_ / "nested/a", "changed, and longer");
  set_mtime(source_ / "nested/a", 1700000000);

  auto second = send({});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(json_paths(second.out, "sent", work_.path()),
            (std::vector<std::string>{"tree/nested/a"}));
  auto summary = json_summary(second.out);
  EXPECT_EQ(summary.value("files", -1), 1);
  EXPECT_EQ(summary.value("skipped", -1), kSampleFiles - 1);
  EXPECT_EQ(summary.value("bytes", -1), 19);
  EXPECT_EQ(read_file(remote_path("nested/a")), "changed, and longer");
  EXPECT_EQ(snapshot(root_.path() / "backup/tree"), snapshot(source_));
}

TEST_F(IncrementalTest, ChecksumCatchesAChangeThatKeepsSizeAndMtime) {
  ASSERT_EQ(send({}).exit_code, 0);
  struct stat before;
  ASSERT_EQ(::stat((source_ / "plain.txt").c_str(), &before), 0);
  write_file(source_ / "plain.txt", "PLAIN TEXT\n");  // same size
  set_mtime(source_ / "plain.txt", before.st_mtim.tv_sec, before.st_mtim.tv_nsec);

  auto quick = send({});
  ASSERT_EQ(quick.exit_code, 0) << quick.err;
  EXPECT_TRUE(json_paths(quick.out, "sent", work_.path()).empty())
      << "quick check should not see it";
  EXPECT_EQ(read_file(remote_path("plain.txt")), "plain text\n");

  auto thorough = send({"--checksum"});
  ASSERT_EQ(thorough.exit_code, 0) << thorough.err;
  EXPECT_EQ(json_paths(thorough.out, "sent", work_.path()),
            (std::vector<std::string>{"tree/plain.txt"}));
  EXPECT_EQ(json_summary(thorough.out).value("skipped", -1), kSampleFiles - 1);
  EXPECT_EQ(read_file(remote_path("plain.txt")), "PLAIN TEXT\n");
}

TEST_F(IncrementalTest, IgnoreExistingNeverOverwrites) {
  ASSERT_EQ(send({}).exit_code, 0);
  write_file(source_ / "nested/a", "new content");
  set_mtime(source_ / "nested/a", 1700000000);
  write_file(source_ / "nested/added", "added");

  auto result = send({"--ignore-existing"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json_paths(result.out, "sent", work_.path()),
            (std::vector<std::string>{"tree/nested/added"}));
  EXPECT_EQ(read_file(remote_path("nested/a")), "a");
  EXPECT_EQ(read_file(remote_path("nested/added")), "added");
  EXPECT_EQ(json_summary(result.out).value("skipped", -1), kSampleFiles);
}

TEST_F(IncrementalTest, DryRunChangesNothingAndSaysWhatWouldHappen) {
  // Against an empty server: everything would be sent, nothing is.
  auto dry = send({"--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_TRUE(tree_names(root_.path()).empty()) << "dry run created something";
  EXPECT_EQ(json_paths(dry.out, "sent", work_.path()).size(),
            static_cast<std::size_t>(kSampleFiles));

  // After a real run and one change: only that file would go, nothing moves.
  ASSERT_EQ(send({}).exit_code, 0);
  write_file(source_ / "zero", "no longer empty");
  set_mtime(source_ / "zero", 1700000000);
  const Snapshot before = snapshot(root_.path());
  auto second = send({"-n"});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(snapshot(root_.path()), before);
  EXPECT_EQ(json_paths(second.out, "sent", work_.path()), (std::vector<std::string>{"tree/zero"}));
  EXPECT_EQ(json_summary(second.out).value("skipped", -1), kSampleFiles - 1);

  // The human form lists it too.
  auto human = run({bin("ftsend"), "-r", "-n", source_.string(), remote("backup")});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE((human.out + human.err).find("tree/zero"), std::string::npos);
  EXPECT_EQ(snapshot(root_.path()), before);
}

TEST_F(IncrementalTest, FtgetSkipsUnchangedLocalFiles) {
  ASSERT_EQ(send({}).exit_code, 0);
  const fs::path local = work_ / "restore";
  auto first = run({bin("ftget"), "-r", "--json", remote("backup/tree"), local.string()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto second = run({bin("ftget"), "-r", "--json", remote("backup/tree"), local.string()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto summary = json_summary(second.out);
  EXPECT_EQ(summary.value("files", -1), 0) << second.out;
  EXPECT_EQ(summary.value("skipped", -1), kSampleFiles) << second.out;
  EXPECT_EQ(snapshot(local / "tree"), snapshot(source_));
}

}  // namespace
}  // namespace ft::testing
