// The exit statuses of tree copies (docs/exit-codes.md), each provoked once,
// and the --json summary that reports them.
#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

class TreeExitTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    source_ = work_ / "tree";
    fs::create_directories(source_ / "sub");
    write_file(source_ / "one", "1");
    write_random_file(source_ / "sub/two", 200 * 1024, 3);
  }
  fs::path source_;
};

TEST_F(TreeExitTest, SuccessIsZeroAndTheSummaryAddsUp) {
  auto result = run({bin("ftsend"), "-r", "--json", source_.string(), remote()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto lines = json_lines(result.out);
  ASSERT_EQ(lines.size(), 3u) << result.out;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i].value("event", ""), "sent");
    EXPECT_TRUE(lines[i].contains("bytes"));
    EXPECT_TRUE(lines[i].contains("seconds"));
  }
  auto summary = json_summary(result.out);
  EXPECT_EQ(summary.value("files", -1), 2);
  EXPECT_EQ(summary.value("bytes", -1), 1 + 200 * 1024);
  EXPECT_EQ(summary.value("skipped", -1), 0);
  EXPECT_EQ(summary.value("failed", -1), 0);
  EXPECT_TRUE(summary.contains("bytes_skipped"));
  EXPECT_TRUE(summary["seconds"].is_number());
  EXPECT_EQ(summary.value("exit_code", -1), 0);
  // --json keeps stdout for JSON alone.
  EXPECT_EQ(result.out.find("ftsend:"), std::string::npos);
}

TEST_F(TreeExitTest, UsageErrorIsTwo) {
  EXPECT_EQ(run({bin("ftsend"), "-r"}).exit_code, 2);
  EXPECT_EQ(
      run({bin("ftsend"), "-r", "--checksum", "--ignore-existing", source_.string(), remote()})
          .exit_code,
      2);
  EXPECT_EQ(run({bin("ftget"), "-r", "--no-such-option", remote("x")}).exit_code, 2);
  EXPECT_EQ(run({bin("ftls"), "-r", "-l", "--json", remote()}).exit_code, 2);
  EXPECT_TRUE(tree_names(root_.path()).empty());
}

TEST_F(TreeExitTest, ALocalDirThatIsNotADirectoryIsAUsageError) {
  write_file(root_.path() / "x", "content");
  // As scp users write it: a device, then a regular file, with and without -r.
  const fs::path file = work_ / "file";
  write_file(file, "kept");
  for (const std::string& local : {std::string("/dev/null"), file.string()}) {
    for (const bool recursive : {false, true}) {
      std::vector<std::string> argv{bin("ftget")};
      if (recursive) argv.push_back("-r");
      argv.push_back(remote("x"));
      argv.push_back(local);
      auto get = run(argv);
      EXPECT_EQ(get.exit_code, 2) << local << ": " << get.err;
      EXPECT_NE(get.err.find("LOCAL_DIR '" + local + "' exists and is not a directory"),
                std::string::npos)
          << get.err;
    }
  }
  EXPECT_EQ(read_file(file), "kept");
}

TEST_F(TreeExitTest, PartialIsNine) {
  // Names are any bytes with ARCHIVE: a link to the server's reserved names
  // is what is still refused.
  fs::create_symlink(".ft-state", source_ / "sub/bad-link");
  auto result = run({bin("ftsend"), "-r", "--json", source_.string(), remote()});
  EXPECT_EQ(result.exit_code, 9) << result.err;
  auto summary = json_summary(result.out);
  EXPECT_EQ(summary.value("exit_code", -1), 9);
  EXPECT_EQ(summary.value("failed", -1), 1);
  EXPECT_EQ(summary.value("files", -1), 2);
  EXPECT_EQ(read_file(root_.path() / "tree/one"), "1");
}

TEST_F(TreeExitTest, ConnectionFailureIsFour) {
  // A port that was just listening and is closed now.
  TempDir other_root;
  ListeningProcess other;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(other, other_root.path()));
  const std::string closed = loopback_remote(other.port());
  ASSERT_EQ(other.stop(SIGTERM), 0);
  auto send = run({bin("ftsend"), "-r", "--retries", "0", "--json", source_.string(), closed});
  EXPECT_EQ(send.exit_code, 4) << send.err;
  auto get = run({bin("ftget"), "-r", "--retries", "0", closed + "/x", (work_ / "o").string()});
  EXPECT_EQ(get.exit_code, 4) << get.err;
}

TEST_F(TreeExitTest, RefusedByServerIsFive) {
  write_file(root_.path() / "file", "a file, not a directory");
  auto send = run({bin("ftsend"), "-r", source_.string(), remote("file")});
  EXPECT_EQ(send.exit_code, 5) << send.err;
  EXPECT_EQ(read_file(root_.path() / "file"), "a file, not a directory");
  auto get = run({bin("ftget"), "-r", remote("missing"), (work_ / "o").string()});
  EXPECT_EQ(get.exit_code, 5) << get.err;
  auto ls = run({bin("ftls"), "-r", remote("missing")});
  EXPECT_EQ(ls.exit_code, 5) << ls.err;
}

TEST_F(TreeExitTest, PersistentCorruptionIsSeven) {
  // One file and nothing else to create (its contents into the existing
  // root): every entry fails, so the status is the failure's own, not 9.
  const fs::path lone = work_ / "lone";
  fs::create_directories(lone);
  write_random_file(lone / "data", 200 * 1024, 5);
  ListeningProcess proxy;
  std::string error;
  ASSERT_TRUE(proxy.start(
      {bin("ft_test_proxy"), "--target", server_.address(), "--flip-every", "5000"}, error))
      << error;
  const std::string through = loopback_remote(proxy.port());
  auto result =
      run({bin("ftsend"), "-r", "--json", lone.string() + "/", through}, std::chrono::seconds(60));
  EXPECT_EQ(result.exit_code, 7) << result.err;
  EXPECT_EQ(json_summary(result.out).value("exit_code", -1), 7);
  EXPECT_FALSE(fs::exists(root_.path() / "data")) << "nothing may be committed from corrupted data";
  proxy.stop(SIGTERM);
}

}  // namespace
}  // namespace ft::testing
