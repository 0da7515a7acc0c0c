// Pipes (issue 13, part 5): `ftsend - HOST/DIR/NAME` uploads standard input
// as a STREAM PUT (docs/protocol.md, section 5.14) and `ftget HOST/PATH -`
// writes one file to standard output, both verified. The commands run under
// bash so that a real pipe (or a redirection) feeds or drains them.
#include <sys/stat.h>

#include "common/rules/errors.hpp"
#include "support/harness.hpp"
#include "support/resume_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

RunResult bash(const std::string& script) {
  return run({"/bin/bash", "-c", "set -o pipefail; " + script});
}

class StreamTest : public ResumeTest {
 protected:
  std::string ftsend() const { return quoted(bin("ftsend")); }
  std::string ftget() const { return quoted(bin("ftget")); }
  /// Nothing of a failed stream on the server: no final name, no hidden file.
  void expect_nothing_of(const std::string& name) {
    EXPECT_FALSE(fs::exists(root_.path() / name));
    EXPECT_TRUE(files_with_prefix(root_.path(), ".ft-").empty());
  }
};

TEST_F(StreamTest, StandardInputLandsWholeAndVerified) {
  const fs::path source = work_ / "source.bin";
  write_random_file(source, 5 * kMiB + 123, 7);
  // Through cat: a real pipe, whose size nobody knows in advance.
  RunResult sent = bash("cat " + quoted(source) + " | " + ftsend() + " -v - " +
                        quoted(remote("in/sub/from-pipe.bin")));
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const fs::path landed = root_.path() / "in" / "sub" / "from-pipe.bin";
  EXPECT_EQ(file_hash(landed), file_hash(source));
  struct stat st {};
  ASSERT_EQ(::stat(landed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(tree_names(root_.path()),
            (std::vector<std::string>{"in", "in/sub", "in/sub/from-pipe.bin"}));
}

TEST_F(StreamTest, EmptyAndSlowPipes) {
  RunResult empty = bash(ftsend() + " - " + quoted(remote("empty")) + " < /dev/null");
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(fs::file_size(root_.path() / "empty"), 0u);
  // A producer that pauses between writes smaller than a chunk: the chunks
  // are assembled from several reads, and the file is the concatenation.
  RunResult slow = bash("for i in 1 2 3 4 5; do printf 'part %s\\n' $i; sleep 0.1; done | " +
                        ftsend() + " - " + quoted(remote("slow.txt")));
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  EXPECT_EQ(read_file(root_.path() / "slow.txt"), "part 1\npart 2\npart 3\npart 4\npart 5\n");
}

TEST_F(StreamTest, OverwritesLikeAnyUpload) {
  write_file(root_.path() / "note.txt", "old");
  RunResult sent = bash("printf new | " + ftsend() + " - " + quoted(remote("note.txt")));
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(root_.path() / "note.txt"), "new");
}

TEST_F(StreamTest, UsageErrors) {
  for (const std::string& args :
       {std::string("- ") + quoted(remote("dir/")), std::string("- ") + quoted(remote()),
        std::string("- /etc/hostname ") + quoted(remote("x")),
        std::string("-r - ") + quoted(remote("x")), std::string("-n - ") + quoted(remote("x"))}) {
    RunResult r = bash(ftsend() + " " + args + " < /dev/null");
    EXPECT_EQ(r.exit_code, static_cast<int>(Exit::kUsage)) << args << "\n" << r.err;
  }
  RunResult two = bash(ftget() + " " + quoted(remote("a")) + " " + quoted(remote("b")) + " -");
  EXPECT_EQ(two.exit_code, static_cast<int>(Exit::kUsage)) << two.err;
  RunResult json = bash(ftget() + " --json " + quoted(remote("a")) + " -");
  EXPECT_EQ(json.exit_code, static_cast<int>(Exit::kUsage)) << json.err;
  expect_nothing_of("x");
}

TEST_F(StreamTest, LargerThanTheServerAllowsFailsAndLeavesNothing) {
  stop_server();
  ASSERT_NO_FATAL_FAILURE(start_server({"--max-file-size", "3000000"}));
  RunResult sent =
      bash("head -c 5000000 /dev/zero | " + ftsend() + " - " + quoted(remote("big.bin")));
  EXPECT_EQ(sent.exit_code, static_cast<int>(Exit::kRemoteRefused)) << sent.err;
  EXPECT_NE(sent.err.find("FILE_TOO_LARGE"), std::string::npos) << sent.err;
  expect_nothing_of("big.bin");
}

TEST_F(StreamTest, ConnectionCutMidStreamCommitsNothing) {
  const fs::path source = work_ / "source.bin";
  write_random_file(source, 6 * kMiB, 9);
  ProxiedRun cut = run_through_proxy({"--cut-after", "3000000"}, [&](const std::string& proxy) {
    return std::vector<std::string>{
        "/bin/bash", "-c", ftsend() + " - " + quoted(proxy + "/cut.bin") + " < " + quoted(source)};
  });
  EXPECT_EQ(cut.result.exit_code, static_cast<int>(Exit::kConnection)) << cut.result.err;
  // A stream is never retried: there is one connection.
  EXPECT_EQ(cut.traffic(2).upstream, 0u) << cut.proxy_err;
  EXPECT_FALSE(fs::exists(root_.path() / "cut.bin"));
}

TEST_F(StreamTest, DamagedChunkFailsTheStream) {
  const fs::path source = work_ / "source.bin";
  write_random_file(source, 3 * kMiB, 11);
  ProxiedRun flipped =
      run_through_proxy({"--flip-upstream", "2000000"}, [&](const std::string& proxy) {
        return std::vector<std::string>{
            "/bin/bash", "-c",
            ftsend() + " - " + quoted(proxy + "/flip.bin") + " < " + quoted(source)};
      });
  EXPECT_EQ(flipped.result.exit_code, static_cast<int>(Exit::kChecksum)) << flipped.result.err;
  EXPECT_FALSE(fs::exists(root_.path() / "flip.bin"));
}

TEST_F(StreamTest, DownloadToStandardOutput) {
  const fs::path source = root_.path() / "dir" / "file.bin";
  fs::create_directories(source.parent_path());
  write_random_file(source, 4 * kMiB + 5, 13);
  const fs::path out = work_ / "out.bin";
  RunResult got =
      bash(ftget() + " -v " + quoted(remote("dir/file.bin")) + " - | cat > " + quoted(out));
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(out), file_hash(source));
  // -v's lines went to stderr: stdout carried the file alone.
  EXPECT_NE(got.err.find("file.bin"), std::string::npos) << got.err;
  // Nothing was written beside the output (no partial file anywhere).
  EXPECT_EQ(tree_names(work_.path()), (std::vector<std::string>{"out.bin"}));
}

TEST_F(StreamTest, DownloadResumesAcrossALostConnection) {
  const fs::path source = root_.path() / "file.bin";
  write_random_file(source, 6 * kMiB, 17);
  const fs::path out = work_ / "out.bin";
  ProxiedRun cut =
      run_through_proxy({"--cut-downstream-after", "2500000"}, [&](const std::string& proxy) {
        return std::vector<std::string>{
            "/bin/bash", "-c", ftget() + " " + quoted(proxy + "/file.bin") + " - > " + quoted(out)};
      });
  ASSERT_EQ(cut.result.exit_code, 0) << cut.result.err;
  EXPECT_EQ(file_hash(out), file_hash(source));
  // The second connection carried the rest, not the whole file again.
  EXPECT_GT(cut.traffic(2).downstream, 0u) << cut.proxy_err;
  EXPECT_LT(cut.traffic(2).downstream, 5 * kMiB) << cut.proxy_err;
}

TEST_F(StreamTest, DamagedDownloadNeverReachesTheOutput) {
  const fs::path source = root_.path() / "file.bin";
  write_random_file(source, 3 * kMiB, 19);
  const fs::path out = work_ / "out.bin";
  ProxiedRun flipped =
      run_through_proxy({"--flip-downstream", "1500000"}, [&](const std::string& proxy) {
        return std::vector<std::string>{
            "/bin/bash", "-c",
            ftget() + " --retries 0 " + quoted(proxy + "/file.bin") + " - > " + quoted(out)};
      });
  EXPECT_EQ(flipped.result.exit_code, static_cast<int>(Exit::kChecksum)) << flipped.result.err;
  // Only whole verified chunks were written: the output is a prefix of the
  // file, cut at a chunk boundary, without the damaged byte.
  const std::string written = read_file(out);
  const std::string whole = read_file(source);
  EXPECT_LT(written.size(), 1500000u);
  EXPECT_EQ(written.size() % (1024 * 1024), 0u);
  EXPECT_EQ(whole.compare(0, written.size(), written), 0);
}

}  // namespace
}  // namespace ft::testing
