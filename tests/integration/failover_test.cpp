// Several servers of one shared root named by the client, for sites without
// a load balancer (docs/client.md "Retries", docs/scale-out.md): a server
// that does not answer is passed over at once, a session lost on one is
// retried on the next and resumes there from what the first verified, a
// profile may hold the list, and a list where nobody answers fails as a
// connection failure.
#include <unistd.h>

#include "common/rules/errors.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr int kConnection = static_cast<int>(Exit::kConnection);

// A loopback port nobody listens on: a server that was there and is gone.
int dead_port() {
  ListeningProcess gone;
  TempDir root;
  start_ftserve(gone, root.path());
  const int port = gone.port();
  gone.stop(SIGINT);
  return port;
}

bool holds_partial(pid_t pid) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const fs::path target = fs::read_symlink(entry.path(), ec);
    if (!ec && target.filename().string().rfind(".ft-part-", 0) == 0) return true;
  }
  return false;
}

class FailoverTest : public ServerFixture {
 protected:
  RunResult tool(const std::string& name, std::vector<std::string> args,
                 const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {"/usr/bin/env",    "-u",
                                     "FT_CONFIG",       "-u",
                                     "XDG_CONFIG_HOME", "HOME=" + home_.path().string()};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(bin(name));
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::chrono::seconds(120));
  }
  TempDir home_;
};

TEST_F(FailoverTest, AServerThatIsDownIsPassedOverAtOnce) {
  start_server();
  write_file(work_ / "a.txt", "alpha");
  const std::string servers = "127.0.0.1:" + std::to_string(dead_port()) + "," + remote("in/");
  RunResult sent = tool("ftsend", {(work_ / "a.txt").string(), servers});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(sent.err.find("retry"), std::string::npos) << sent.err;
  EXPECT_EQ(read_file(root_ / "in" / "a.txt"), "alpha");
  RunResult listed = tool("ftls", {servers});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, "a.txt\n");
  RunResult got = tool("ftget", {servers + "a.txt", (work_ / "out").string() + "/"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(read_file(work_ / "out" / "a.txt"), "alpha");
}

TEST_F(FailoverTest, ProfileWithAServerList) {
  start_server();
  fs::create_directories(home_ / ".config" / "ft");
  write_file(home_ / ".config" / "ft" / "config",
             "[cluster]\nhost = 127.0.0.1:" + std::to_string(dead_port()) + ", " + remote() + "\n");
  write_file(work_ / "b.txt", "beta");
  RunResult sent = tool("ftsend", {(work_ / "b.txt").string(), "cluster:"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(read_file(root_ / "b.txt"), "beta");
}

TEST_F(FailoverTest, NoServerAnsweringIsAConnectionFailure) {
  const std::string servers = "127.0.0.1:" + std::to_string(dead_port()) +
                              ",127.0.0.1:" + std::to_string(dead_port()) + "/";
  write_file(work_ / "c.txt", "gamma");
  RunResult sent = tool("ftsend", {"--retries", "0", (work_ / "c.txt").string(), servers});
  EXPECT_EQ(sent.exit_code, kConnection) << sent.err;
  EXPECT_NE(sent.err.find("none of the 2 servers answered; the last: cannot connect to"),
            std::string::npos)
      << sent.err;
}

// Two servers on one root; the one writing a big upload is killed: the
// client's retry goes to the other, which resumes from the verified prefix.
TEST_F(FailoverTest, AKilledServersUploadResumesOnTheNext) {
  start_server();
  ListeningProcess other;
  ASSERT_NO_FATAL_FAILURE(start_ftserve(other, root_.path()));
  constexpr std::uint64_t kSize = 192ull << 20;
  write_random_file(work_ / "big.bin", kSize, 5);
  BackgroundProcess send;
  send.start({bin("ftsend"), "--retries", "3", (work_ / "big.bin").string(),
              remote() + "," + loopback_remote(other.port())});
  bool mid_way = false;
  for (int wait = 0; wait < 3000 && !mid_way; ++wait) {
    mid_way =
        largest_with_prefix(root_.path(), ".ft-part-") >= kSize / 3 && holds_partial(server_.pid());
    if (!mid_way) ::usleep(10'000);
  }
  ASSERT_TRUE(mid_way) << "the first server never held a third of the file";
  server_.stop(SIGKILL);
  const RunResult sent = send.finish(std::chrono::seconds(120));
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_NE(sent.err.find("retry 1/3 in "), std::string::npos) << sent.err;
  EXPECT_EQ(sent.err.find("retry 2/3"), std::string::npos) << sent.err;
  EXPECT_EQ(file_hash(root_ / "big.bin"), file_hash(work_ / "big.bin"));
  EXPECT_EQ(other.stop(SIGTERM), 0);
  const auto resumed = logged_put_offset(other.err(), "big.bin");
  ASSERT_TRUE(resumed) << other.err();
  EXPECT_GE(*resumed, kSize / 3);
}

}  // namespace
}  // namespace ft::testing
