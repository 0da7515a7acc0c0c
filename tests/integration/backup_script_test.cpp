// scripts/ft-backup against a real server: its help tells the truth about
// keys and exit 10, its summary line counts skipped links apart from
// unchanged files, with a readable size, --fixed --delete mirrors, and
// --dated --keep N prunes old snapshots through DELETE.
#include <sys/stat.h>

#include <algorithm>
#include <regex>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

const std::string kScript = std::string(FT_SOURCE_DIR) + "/scripts/ft-backup";

class BackupScript : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    source_ = work_ / "docs";
    fs::create_directories(source_ / "sub");
    write_file(source_ / "a.txt", "hello");
    write_random_file(source_ / "sub/b.bin", 3 * 1024 * 1024, 5);
    fs::create_symlink("a.txt", source_ / "link");
  }
  RunResult backup(const std::vector<std::string>& options) {
    std::vector<std::string> argv = {"/bin/bash", kScript, "--ftsend", bin("ftsend")};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(source_.string());
    argv.push_back(remote("laptop"));
    return run(argv);
  }
  fs::path source_;
};

// KEY=VALUE of the summary line.
std::string field(const std::string& line, const std::string& key) {
  std::smatch match;
  if (!std::regex_search(line, match, std::regex(" " + key + "=([^ \n]*)"))) return "<none>";
  return match[1];
}

TEST(BackupScriptHelp, TellsAboutKeysAndEveryExitStatus) {
  RunResult help = run({"/bin/bash", kScript, "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  EXPECT_EQ(help.out.find("no authentication and no encryption yet"), std::string::npos);
  EXPECT_NE(help.out.find("TLS 1.3"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--key-file FILE"), std::string::npos);
  for (int status = 0; status <= 10; ++status) {
    const std::string entry = (status < 10 ? "  " : " ") + std::to_string(status) + "  ";
    EXPECT_NE(help.out.find("\n" + entry), std::string::npos) << "exit " << status;
  }
  EXPECT_NE(help.out.find("links_skipped"), std::string::npos);
}

TEST_F(BackupScript, CountsLinksApartFromUnchangedFilesWithReadableSizes) {
  RunResult first = backup({"--fixed"});
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  EXPECT_EQ(field(first.out, "files_sent"), "2") << first.out;
  EXPECT_EQ(field(first.out, "bytes_sent"), std::to_string(5 + 3 * 1024 * 1024)) << first.out;
  EXPECT_EQ(field(first.out, "size_sent"), "3.0MiB") << first.out;
  EXPECT_EQ(field(first.out, "files_unchanged"), "0") << first.out;
  EXPECT_EQ(field(first.out, "links_skipped"), "1") << first.out;
  EXPECT_EQ(field(first.out, "special_skipped"), "0") << first.out;
  EXPECT_EQ(field(first.out, "files_failed"), "0") << first.out;
  EXPECT_EQ(field(first.out, "exit"), "0") << first.out;

  RunResult second = backup({"--fixed"});
  ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_EQ(field(second.out, "files_sent"), "0") << second.out;
  EXPECT_EQ(field(second.out, "size_sent"), "0B") << second.out;
  EXPECT_EQ(field(second.out, "files_unchanged"), "2") << second.out;
  EXPECT_EQ(field(second.out, "links_skipped"), "1") << second.out;
}

TEST_F(BackupScript, ReadsTheCountsWithoutJq) {
  // The same line when jq is not on PATH (the sed fallback): PATH holds
  // only a directory with the tools the script needs, without jq.
  const fs::path tools = work_ / "bin";
  fs::create_directories(tools);
  for (const char* tool : {"date", "mktemp", "rm", "grep", "sed", "tail", "awk", "flock", "tr",
                           "dirname", "realpath", "cat"}) {
    for (const char* dir : {"/usr/bin/", "/bin/"}) {
      if (fs::exists(std::string(dir) + tool)) {
        fs::create_symlink(std::string(dir) + tool, tools / tool);
        break;
      }
    }
  }
  std::vector<std::string> argv = {
      "/usr/bin/env", "PATH=" + tools.string(), "/bin/bash",     kScript, "--ftsend", bin("ftsend"),
      "--fixed",      source_.string(),         remote("laptop")};
  RunResult result = run(argv);
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_EQ(field(result.out, "files_sent"), "2") << result.out;
  EXPECT_EQ(field(result.out, "links_skipped"), "1") << result.out;
  EXPECT_EQ(field(result.out, "files_unchanged"), "0") << result.out;
}

// -a: links as links, hard links as one file, holes kept (the archive set).
TEST_F(BackupScript, ArchiveKeepsLinksAndHardLinks) {
  fs::create_hard_link(source_ / "sub/b.bin", source_ / "b-again.bin");
  RunResult archived = backup({"-a", "--fixed"});
  ASSERT_EQ(archived.exit_code, 0) << archived.err << archived.out;
  EXPECT_EQ(field(archived.out, "links_skipped"), "0") << archived.out;
  const fs::path copy = root_.path() / "laptop/current/docs";
  ASSERT_TRUE(fs::is_symlink(copy / "link"));
  EXPECT_EQ(fs::read_symlink(copy / "link"), "a.txt");
  struct stat one {
  }, two{};
  ASSERT_EQ(::stat((copy / "sub/b.bin").c_str(), &one), 0);
  ASSERT_EQ(::stat((copy / "b-again.bin").c_str(), &two), 0);
  EXPECT_EQ(one.st_ino, two.st_ino) << "a hard link stays one file";
  EXPECT_EQ(file_hash(copy / "sub/b.bin"), file_hash(source_ / "sub/b.bin"));
}

TEST_F(BackupScript, FixedDeleteMirrorsAndExcludesAreKept) {
  RunResult first = backup({"--fixed", "--exclude", "*.log"});
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  const fs::path copy = root_.path() / "laptop/current/docs";
  EXPECT_TRUE(fs::exists(copy / "a.txt"));
  write_file(copy / "server-only.log", "kept: excluded\n");
  fs::remove(source_ / "a.txt");
  RunResult kept = backup({"--fixed"});
  ASSERT_EQ(kept.exit_code, 0) << kept.err << kept.out;
  EXPECT_TRUE(fs::exists(copy / "a.txt")) << "without --delete a removed file stays";
  RunResult mirror = backup({"--fixed", "--delete", "--exclude=*.log"});
  ASSERT_EQ(mirror.exit_code, 0) << mirror.err << mirror.out;
  EXPECT_FALSE(fs::exists(copy / "a.txt"));
  EXPECT_EQ(read_file(copy / "server-only.log"), "kept: excluded\n");
  EXPECT_TRUE(fs::exists(copy / "sub/b.bin"));
  EXPECT_EQ(backup({"--dated", "--delete"}).exit_code, 2);
  EXPECT_EQ(backup({"--fixed", "--keep", "2"}).exit_code, 2);
  EXPECT_EQ(backup({"--keep", "0"}).exit_code, 2);
}

TEST_F(BackupScript, DatedRunLinksUnchangedFilesToThePreviousSnapshot) {
  RunResult first = backup({"--dated"});
  ASSERT_EQ(first.exit_code, 0) << first.err << first.out;
  // The first snapshot becomes an older one (two runs within one second
  // would share a name).
  const fs::path laptop = root_.path() / "laptop";
  fs::path made;
  for (const auto& entry : fs::directory_iterator(laptop)) made = entry.path();
  fs::rename(made, laptop / "2020-01-01T000000");
  RunResult second = backup({"--dated"});
  ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_EQ(field(second.out, "files_sent"), "0") << second.out;
  EXPECT_EQ(field(second.out, "bytes_sent"), "0") << second.out;
  EXPECT_EQ(field(second.out, "files_unchanged"), "2") << second.out;
  fs::path latest;
  for (const auto& entry : fs::directory_iterator(laptop)) {
    if (entry.path().filename() != "2020-01-01T000000") latest = entry.path();
  }
  struct stat old_st {
  }, new_st{};
  ASSERT_EQ(::stat((laptop / "2020-01-01T000000/docs/sub/b.bin").c_str(), &old_st), 0);
  ASSERT_EQ(::stat((latest / "docs/sub/b.bin").c_str(), &new_st), 0);
  EXPECT_EQ(old_st.st_ino, new_st.st_ino);
  EXPECT_EQ(new_st.st_nlink, 2u);
}

TEST_F(BackupScript, KeepPrunesOldSnapshotsThroughDelete) {
  const fs::path laptop = root_.path() / "laptop";
  for (const char* old : {"2020-01-01T000000", "2020-01-02T000000", "2020-01-03T000000"}) {
    fs::create_directories(laptop / old / "docs/sub");
    write_file(laptop / old / "docs/a.txt", old);
    write_file(laptop / old / "docs/sub/b.bin", old);
    fs::create_symlink("a.txt", laptop / old / "docs/link");
  }
  write_file(laptop / "notes.txt", "not a snapshot\n");
  RunResult result = backup({"--dated", "--keep", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(laptop)) {
    left.push_back(entry.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 3u) << result.err;
  EXPECT_EQ(left[0], "2020-01-03T000000");
  EXPECT_NE(left[1].find('T'), std::string::npos);  // this run's snapshot
  EXPECT_EQ(left[2], "notes.txt");
  EXPECT_EQ(read_file(laptop / "2020-01-03T000000/docs/a.txt"), "2020-01-03T000000");
  EXPECT_TRUE(fs::exists(laptop / left[1] / "docs/sub/b.bin"));
  EXPECT_NE(result.err.find("pruned 2 old snapshot(s)"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ft::testing
