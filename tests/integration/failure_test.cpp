// Each failure a user can meet gets its documented exit code, a specific
// message, and leaves nothing under a final name.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/rules/errors.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kUsage = static_cast<int>(Exit::kUsage);
constexpr int kLocalFile = static_cast<int>(Exit::kLocalFile);
constexpr int kConnection = static_cast<int>(Exit::kConnection);
constexpr int kRemoteRefused = static_cast<int>(Exit::kRemoteRefused);
constexpr int kChecksum = static_cast<int>(Exit::kChecksum);

// A port on 127.0.0.1 that nothing listens on: bound, then released.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST_F(ServerTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run({bin("ftsend")}).exit_code, kUsage);
  EXPECT_EQ(run({bin("ftget")}).exit_code, kUsage);
  EXPECT_EQ(run({bin("ftls")}).exit_code, kUsage);
  EXPECT_EQ(run({bin("ftsend"), "--no-such-option", "x", remote()}).exit_code, kUsage);
  EXPECT_EQ(run({bin("ftsend"), "--chunk-size", "12", "x", remote()}).exit_code, kUsage);
  write_file(work_ / "f", "x");
  RunResult bad_port = run({bin("ftsend"), (work_ / "f").string(), "127.0.0.1:99999"});
  EXPECT_EQ(bad_port.exit_code, kUsage);
  EXPECT_NE(bad_port.err.find("port"), std::string::npos) << bad_port.err;
}

TEST_F(ServerTest, HelpListsExitCodes) {
  for (const char* tool : {"ftsend", "ftget", "ftls"}) {
    RunResult help = run({bin(tool), "--help"});
    EXPECT_EQ(help.exit_code, 0) << tool;
    EXPECT_NE(help.out.find("checksum"), std::string::npos) << tool << help.out;
    EXPECT_NE(help.out.find("7"), std::string::npos) << tool;
  }
  RunResult version = run({bin("ftsend"), "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find(FT_VERSION), std::string::npos) << version.out;
}

TEST_F(ServerTest, MissingLocalFileExitsThreeAndOthersStillGo) {
  write_file(work_ / "present", "here");
  RunResult r =
      run({bin("ftsend"), (work_ / "absent").string(), (work_ / "present").string(), remote()});
  EXPECT_EQ(r.exit_code, kLocalFile) << r.err;
  EXPECT_NE(r.err.find("absent"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(root_.path() / "present"), "here");
}

TEST_F(ServerTest, RefusedConnectionExitsFour) {
  write_file(work_ / "f", "x");
  RunResult r =
      run({bin("ftsend"), (work_ / "f").string(), "127.0.0.1:" + std::to_string(closed_port())});
  EXPECT_EQ(r.exit_code, kConnection) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  RunResult ls = run({bin("ftls"), "127.0.0.1:" + std::to_string(closed_port())});
  EXPECT_EQ(ls.exit_code, kConnection) << ls.err;
}

TEST_F(ServerTest, MissingRemoteFileExitsFiveAndLeavesNothing) {
  RunResult r = run({bin("ftget"), remote("nope.bin"), work_.path().string()});
  EXPECT_EQ(r.exit_code, kRemoteRefused) << r.err;
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;
  EXPECT_TRUE(tree_names(work_.path()).empty());
}

TEST_F(ServerTest, ParentThatIsAFileIsRefusedWithNotADirectory) {
  write_file(root_.path() / "plain", "i am a file");
  write_file(work_ / "f", "x");
  RunResult r = run({bin("ftsend"), (work_ / "f").string(), remote("plain/sub/")});
  EXPECT_EQ(r.exit_code, kRemoteRefused) << r.err;
  EXPECT_NE(r.err.find("NOT_A_DIRECTORY"), std::string::npos) << r.err;
  EXPECT_EQ(root_names(), (std::vector<std::string>{"plain"}));
}

TEST_F(ServerTest, UploadOntoADirectoryIsRefused) {
  fs::create_directory(root_.path() / "f");
  write_file(work_ / "f", "x");
  RunResult r = run({bin("ftsend"), (work_ / "f").string(), remote()});
  EXPECT_EQ(r.exit_code, kRemoteRefused) << r.err;
  EXPECT_NE(r.err.find("IS_A_DIRECTORY"), std::string::npos) << r.err;
  EXPECT_EQ(root_names(), (std::vector<std::string>{"f"}));
}

TEST_F(ServerTest, HostileRemotePathsAreRefused) {
  write_file(work_ / "f", "x");
  for (const char* path : {"../escape", "a/../../escape", ".ft-state"}) {
    RunResult r = run({bin("ftsend"), (work_ / "f").string(), remote(path)});
    EXPECT_NE(r.exit_code, 0) << path;
    RunResult g = run({bin("ftget"), remote(std::string(path) + "/f"), work_.path().string()});
    EXPECT_NE(g.exit_code, 0) << path;
  }
  EXPECT_TRUE(root_names().empty());
}

class Confinement : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    write_file(outside_ / "secret", "do not read me");
    fs::create_symlink(outside_.path(), root_.path() / "escape");
    fs::create_symlink(outside_ / "secret", root_.path() / "secret-link");
    write_file(root_.path() / "inside", "fine");
    fs::create_symlink("inside", root_.path() / "inside-link");
  }
  TempDir outside_;
};

TEST_F(Confinement, ReadsThroughASymlinkOutsideAreRefused) {
  for (const char* path : {"escape/secret", "secret-link"}) {
    RunResult r = run({bin("ftget"), remote(path), work_.path().string()});
    EXPECT_EQ(r.exit_code, kRemoteRefused) << path << r.err;
    EXPECT_NE(r.err.find("PATH_ESCAPES_ROOT"), std::string::npos) << r.err;
  }
  RunResult ls = run({bin("ftls"), remote("escape")});
  EXPECT_EQ(ls.exit_code, kRemoteRefused) << ls.err;
  EXPECT_EQ(ls.out.find("secret"), std::string::npos);
  EXPECT_TRUE(tree_names(work_.path()).empty());
}

TEST_F(Confinement, SymlinkInsideTheRootStillWorks) {
  RunResult r = run({bin("ftget"), remote("inside-link"), work_.path().string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(work_ / "inside-link"), "fine");
}

TEST_F(Confinement, WritesThroughASymlinkOutsideAreRefused) {
  write_file(work_ / "planted", "x");
  RunResult r = run({bin("ftsend"), (work_ / "planted").string(), remote("escape/")});
  EXPECT_EQ(r.exit_code, kRemoteRefused) << r.err;
  RunResult nested = run({bin("ftsend"), (work_ / "planted").string(), remote("escape/deeper/")});
  EXPECT_EQ(nested.exit_code, kRemoteRefused) << nested.err;
  EXPECT_EQ(tree_names(outside_.path()), (std::vector<std::string>{"secret"}));
  EXPECT_EQ(read_file(outside_ / "secret"), "do not read me");
}

TEST_F(ServerTest, UploadOverASymlinkReplacesTheLinkNotItsTarget) {
  TempDir outside;
  write_file(outside / "target", "original");
  fs::create_symlink(outside / "target", root_.path() / "f");
  write_file(work_ / "f", "new content");
  RunResult r = run({bin("ftsend"), (work_ / "f").string(), remote()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(outside / "target"), "original");
  EXPECT_FALSE(fs::is_symlink(root_.path() / "f"));
  EXPECT_EQ(read_file(root_.path() / "f"), "new content");
}

// A proxy that flips one byte of the DATA bytes in transit.
class Corruption : public ServerTest {
 protected:
  std::string through_proxy(const std::string& flag, std::uint64_t offset,
                            const std::string& path) {
    std::string error;
    EXPECT_TRUE(proxy_.start(
        {bin("ft_test_proxy"), "--target", remote(), flag, std::to_string(offset)}, error))
        << error;
    return loopback_remote(proxy_.port(), path);
  }
  void TearDown() override {
    proxy_.stop(SIGTERM);
    ServerTest::TearDown();
  }
  ListeningProcess proxy_;
};

// With RESUME agreed the server asks for a chunk that failed its hash again
// (a rewind): one flipped byte costs a resend, not the upload.
TEST_F(Corruption, FlippedByteOnUploadIsResentAndTheFileIsExact) {
  write_random_file(work_ / "big", 3 * 1024 * 1024, 7);
  // Past the hello (16) and the PUT: inside the first DATA's bytes.
  std::string target = through_proxy("--flip-upstream", 2000, "dest/");
  RunResult r = run({bin("ftsend"), (work_ / "big").string(), target});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(file_hash(root_.path() / "dest" / "big"), file_hash(work_ / "big"));
  EXPECT_EQ(root_names(), (std::vector<std::string>{"dest", "dest/big"}));
}

// Every chunk damaged on every connection: after the bounded number of
// rewinds the upload fails with CHECKSUM_MISMATCH (status 7), and neither a
// final file nor partial data is left (partials go on a checksum failure).
TEST_F(Corruption, PersistentCorruptionOnUploadFailsWithChecksumError) {
  write_random_file(work_ / "big", 3 * 1024 * 1024, 9);
  std::string target = through_proxy("--flip-every", 100000, "dest/");
  RunResult r = run({bin("ftsend"), (work_ / "big").string(), target});
  EXPECT_EQ(r.exit_code, kChecksum) << r.err;
  EXPECT_NE(r.err.find("CHECKSUM_MISMATCH"), std::string::npos) << r.err;
  // The directory may have been created; no file, final, partial or temporary.
  for (const auto& name : root_names()) EXPECT_EQ(name, "dest");
}

TEST_F(Corruption, FlippedByteOnDownloadFailsWithChecksumErrorAndLeavesNothing) {
  write_random_file(root_.path() / "big", 3 * 1024 * 1024, 8);
  std::string target = through_proxy("--flip-downstream", 5000, "big");
  fs::path dest = work_ / "dest";
  fs::create_directory(dest);
  RunResult r = run({bin("ftget"), target, dest.string()});
  EXPECT_EQ(r.exit_code, kChecksum) << r.err;
  EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
  EXPECT_TRUE(tree_names(dest).empty());
}

// A server whose root is a 1 MiB tmpfs: uploads that do not fit fail with
// NO_SPACE (exit 6), leave nothing behind, and the server keeps serving.
TEST(ServerSideErrors, DiskFullExitsSixAndTheServerKeepsServing) {
  TempDir root;
  TmpfsMount tmpfs(root.path(), "1m");
  if (!tmpfs.mounted()) {
    GTEST_SKIP() << "cannot mount a small tmpfs (needs root): " << tmpfs.error();
  }
  ListeningProcess server;
  // The reserve would refuse every upload on a 1 MiB file system; this test
  // is about the disk filling up while data arrives.
  ASSERT_NO_FATAL_FAILURE(start_ftserve(server, root.path(), {"--free-space-reserve", "0"}));
  const std::string address = loopback_remote(server.port());
  TempDir work;
  write_random_file(work / "big", 3 * 1024 * 1024, 3);
  RunResult full = run({bin("ftsend"), (work / "big").string(), address});
  EXPECT_EQ(full.exit_code, static_cast<int>(Exit::kServerError)) << full.err;
  EXPECT_NE(full.err.find("NO_SPACE"), std::string::npos) << full.err;
  EXPECT_TRUE(tree_names(root.path()).empty());
  // Partial data of a resumable upload goes on NO_SPACE, as do temporaries.
  EXPECT_TRUE(files_with_prefix(root.path(), ".ft-part-").empty());
  EXPECT_TRUE(files_with_prefix(root.path(), ".ft-tmp-").empty());

  write_file(work / "small", "still serving");
  RunResult small = run({bin("ftsend"), (work / "small").string(), address});
  EXPECT_EQ(small.exit_code, 0) << small.err;
  EXPECT_EQ(read_file(root / "small"), "still serving");
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace ft::testing
