// What a person expects of the clients (issue 12, part 6): a 10 s deadline
// for connecting and the server's hello, no retries on a name that does
// not resolve, ftget of a directory pointing at -r, scp's rule for one
// file onto a name, and an unfinished transfer saying how to resume it.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "common/os/fd.hpp"
#include "common/rules/errors.hpp"
#include "support/resume_fixture.hpp"

namespace ft::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kConnection = static_cast<int>(Exit::kConnection);
constexpr int kRemoteRefused = static_cast<int>(Exit::kRemoteRefused);
constexpr const char* kResumeHint = "run the same command again to resume";

// A socket on 127.0.0.1 that listens (the kernel completes connections
// into its queue, backlog 0) and is never accepted from nor answers.
Fd silent_listener(int& port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::listen(fd.get(), 0), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

TEST(ConnectDeadline, SilentListenerFailsWithinTenSeconds) {
  int port = 0;
  Fd listener = silent_listener(port);
  const auto start = Clock::now();
  RunResult r = run({bin("ftls"), "127.0.0.1:" + std::to_string(port)}, 60s);
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.exit_code, kConnection) << r.err;
  EXPECT_NE(r.err.find("connected, but no ft hello within 10 s"), std::string::npos) << r.err;
  EXPECT_GE(took, 9s);
  EXPECT_LT(took, 15s);
}

TEST(ConnectDeadline, DroppedConnectionAttemptFailsWithinTenSeconds) {
  int port = 0;
  Fd listener = silent_listener(port);
  // One connection fills the queue of backlog 0: the kernel then drops the
  // SYNs of the next, as a host behind a filtering firewall does.
  Fd filler(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  ASSERT_EQ(::connect(filler.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const auto start = Clock::now();
  RunResult r = run({bin("ftls"), "127.0.0.1:" + std::to_string(port)}, 60s);
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.exit_code, kConnection) << r.err;
  EXPECT_NE(r.err.find("no answer within 10 s"), std::string::npos) << r.err;
  EXPECT_LT(took, 15s);
}

TEST(ConnectDeadline, UnresolvableNameIsNotRetried) {
  TempDir work;
  write_file(work / "a.txt", "x");
  for (const char* tool : {"ftsend", "ftget", "ftls"}) {
    std::vector<std::string> argv = {bin(tool), "--retries", "5"};
    if (std::string(tool) == "ftls") argv.pop_back(), argv.pop_back();
    if (std::string(tool) == "ftsend") argv.push_back((work / "a.txt").string());
    argv.push_back(std::string("nosuch.invalid:7070") +
                   (std::string(tool) == "ftget" ? "/a.txt" : ""));
    if (std::string(tool) == "ftget") argv.push_back((work / "out").string() + "/");
    RunResult r = run(argv, 60s);
    EXPECT_EQ(r.exit_code, kConnection) << tool << r.err;
    EXPECT_NE(r.err.find("cannot resolve host 'nosuch.invalid'"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("retry"), std::string::npos) << tool << r.err;
  }
}

TEST_F(ServerTest, FtgetOfADirectorySuggestsRecursive) {
  fs::create_directories(root_ / "docs");
  RunResult r = run({bin("ftget"), remote("docs"), (work_.path() / "out").string() + "/"});
  EXPECT_EQ(r.exit_code, kRemoteRefused) << r.err;
  EXPECT_NE(r.err.find("use -r to fetch directory trees"), std::string::npos) << r.err;
}

// scp: one file onto NAME lands as NAME unless NAME is a directory.
TEST_F(ServerTest, OneFileOntoANameFollowsScp) {
  write_file(work_ / "a.txt", "alpha");
  const std::string file = (work_ / "a.txt").string();
  EXPECT_EQ(run({bin("ftsend"), file, remote("renamed.txt")}).exit_code, 0);
  EXPECT_TRUE(fs::is_regular_file(root_ / "renamed.txt"));
  EXPECT_EQ(read_file(root_ / "renamed.txt"), "alpha");
  // Onto an existing file: replaced, as scp does.
  write_file(work_ / "b.txt", "beta");
  EXPECT_EQ(run({bin("ftsend"), (work_ / "b.txt").string(), remote("renamed.txt")}).exit_code, 0);
  EXPECT_EQ(read_file(root_ / "renamed.txt"), "beta");
  // Onto an existing directory: inside it.
  fs::create_directories(root_ / "dir");
  EXPECT_EQ(run({bin("ftsend"), file, remote("dir")}).exit_code, 0);
  EXPECT_EQ(read_file(root_ / "dir" / "a.txt"), "alpha");
  // A trailing slash always means a directory, created if missing; and a
  // missing parent of the new name is created as before.
  EXPECT_EQ(run({bin("ftsend"), file, remote("new") + "/"}).exit_code, 0);
  EXPECT_EQ(read_file(root_ / "new" / "a.txt"), "alpha");
  EXPECT_EQ(run({bin("ftsend"), file, remote("deep/er/c.txt")}).exit_code, 0);
  EXPECT_EQ(read_file(root_ / "deep" / "er" / "c.txt"), "alpha");
  // Several files: the destination is a directory, as always.
  EXPECT_EQ(run({bin("ftsend"), file, (work_ / "b.txt").string(), remote("many")}).exit_code, 0);
  EXPECT_EQ(read_file(root_ / "many" / "b.txt"), "beta");
}

class ResumeHintTest : public ResumeTest {};

TEST_F(ResumeHintTest, LostConnectionSaysTheSameCommandResumes) {
  write_random_file(work_ / "big", 8 * kMiB, 12);
  const std::vector<std::string> faults = {"--cut-after", std::to_string(3 * kMiB)};
  ProxiedRun cut = run_through_proxy(faults, [&](const std::string& proxy) {
    return std::vector<std::string>{bin("ftsend"), "--retries", "0", (work_ / "big").string(),
                                    proxy};
  });
  EXPECT_EQ(cut.result.exit_code, kExitConnection) << cut.result.err;
  EXPECT_NE(cut.result.err.find(kResumeHint), std::string::npos) << cut.result.err;
  RunResult again = run_while_busy({bin("ftsend"), (work_ / "big").string(), server_address()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(file_hash(root_ / "big"), file_hash(work_ / "big"));
}

TEST_F(ResumeHintTest, InterruptSaysTheSameCommandResumes) {
  write_random_file(root_ / "big", 8 * kMiB, 13);
  auto proxy = start_proxy({"--stall-downstream-after", std::to_string(2 * kMiB)});
  BackgroundProcess get;
  get.start({bin("ftget"), via(*proxy, "big"), work_.path().string() + "/"});
  // The partial file grows until the stall: then interrupt.
  EXPECT_GE(wait_for_partial(work_.path(), ".ft-part", kMiB), kMiB);
  get.signal(SIGINT);
  RunResult stopped = get.finish();
  EXPECT_EQ(stopped.exit_code, static_cast<int>(Exit::kFailure)) << stopped.err;
  EXPECT_NE(stopped.err.find(kResumeHint), std::string::npos) << stopped.err;
  proxy->stop(SIGTERM);
  RunResult again = run({bin("ftget"), remote("big"), work_.path().string() + "/"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(file_hash(work_ / "big"), file_hash(root_ / "big"));
}

}  // namespace
}  // namespace ft::testing
