// Modes from the peer (issue 10, finding 8; docs/server.md --umask): file
// and directory modes pass through the server's umask (default 022), a
// directory's owner keeps rwx, and MKDIR "" never changes the root.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

class Modes : public ServerFixture {
 protected:
  std::unique_ptr<RawClient> connect() {
    auto client = std::make_unique<RawClient>(server_.port());
    client->send_hello(kCapTrees | kCapEager);
    EXPECT_TRUE(client->read_hello());
    return client;
  }
  unsigned mode_of(const std::string& name) const {
    struct stat st {};
    EXPECT_EQ(::lstat((root_.path() / name).c_str(), &st), 0) << name;
    return st.st_mode & 07777;
  }
};

TEST_F(Modes, DefaultUmaskTakesGroupAndOtherWrite) {
  start_server();
  auto c = connect();
  EXPECT_EQ(put_file(*c, 1, "f", "x", 0777), "OK");
  EXPECT_EQ(put_file(*c, 2, "eager", "x", 0777, true), "OK");
  EXPECT_EQ(put_file(*c, 3, "shared", "x", 0666), "OK");
  EXPECT_EQ(make_dir(*c, 4, "open", 0777), "OK");
  EXPECT_EQ(make_dir(*c, 5, "locked", 0000), "OK");
  EXPECT_EQ(mode_of("f"), 0755u);
  EXPECT_EQ(mode_of("eager"), 0755u);
  EXPECT_EQ(mode_of("shared"), 0644u);
  EXPECT_EQ(mode_of("open"), 0755u);
  EXPECT_EQ(mode_of("locked"), 0700u);
  // An existing directory changed to 0000 keeps its owner's rwx too.
  EXPECT_EQ(make_dir(*c, 6, "open", 0000), "OK");
  EXPECT_EQ(mode_of("open"), 0700u);
}

TEST_F(Modes, UmaskZeroKeepsThePeersMode) {
  start_server({"--umask", "000"});
  auto c = connect();
  EXPECT_EQ(put_file(*c, 1, "f", "x", 0777), "OK");
  EXPECT_EQ(put_file(*c, 2, "eager", "x", 0777, true), "OK");
  EXPECT_EQ(make_dir(*c, 3, "open", 0777), "OK");
  EXPECT_EQ(make_dir(*c, 4, "locked", 0000), "OK");
  EXPECT_EQ(mode_of("f"), 0777u);
  EXPECT_EQ(mode_of("eager"), 0777u);
  EXPECT_EQ(mode_of("open"), 0777u);
  EXPECT_EQ(mode_of("locked"), 0700u);
}

TEST_F(Modes, MkdirOfTheRootLeavesItAlone) {
  ::chmod(root_.path().c_str(), 0751);
  struct stat before {};
  ASSERT_EQ(::stat(root_.path().c_str(), &before), 0);
  start_server();
  auto c = connect();
  EXPECT_EQ(make_dir(*c, 1, "", 0000, 42, kMkdirSetMtime), "OK");
  EXPECT_EQ(make_dir(*c, 2, "", 0777), "OK");
  struct stat after {};
  ASSERT_EQ(::stat(root_.path().c_str(), &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  // The server still serves it.
  EXPECT_EQ(put_file(*c, 3, "f", "x"), "OK");
}

TEST(ModesCli, BadUmaskIsAUsageErrorAndHelpNamesIt) {
  TempDir root;
  for (const char* bad : {"999", "8", "", "0x1f", "1000"}) {
    RunResult r = run(ftserve_argv(root.path(), {"--umask", bad}));
    EXPECT_EQ(r.exit_code, static_cast<int>(Exit::kUsage)) << bad << ": " << r.err;
  }
  RunResult help = run({bin("ftserve"), "--help"});
  EXPECT_NE(help.out.find("--umask"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace ft::testing
