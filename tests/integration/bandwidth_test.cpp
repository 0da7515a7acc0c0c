// --bwlimit (docs/client.md and docs/server.md "Bandwidth"): the clients
// and ftserve pace transfers to a rate, and a paced pause is not idleness.
// The bounds are loose on purpose (the test machines are shared and the
// build has sanitizers): the lower bound is what the rate allows at best,
// the upper one only says the pacing does not stall; the ±5 % figure over
// 30 s is measured by hand on the emulated LAN (docs/performance.md).
#include <chrono>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1024 * 1024;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `bytes` at `rate` less what the first burst (a tenth of a second) and one
// write's debt allow for nothing: the least time a paced transfer takes.
double least_seconds(std::uint64_t bytes, std::uint64_t rate) {
  return static_cast<double>(bytes) / static_cast<double>(rate) - 0.2;
}

class Bandwidth : public ServerFixture {
 protected:
  fs::path make_source(std::uint64_t size) {
    fs::path source = work_ / "data.bin";
    write_random_file(source, size, 14);
    return source;
  }
};

TEST_F(Bandwidth, FtsendPacesItsUpload) {
  start_server();
  const std::uint64_t size = 6 * kMiB;
  fs::path source = make_source(size);
  const auto start = Clock::now();
  RunResult sent = run({bin("ftsend"), "--bwlimit", "2M", source.string(), remote("in/")});
  const double took = seconds_since(start);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(file_hash(root_.path() / "in/data.bin"), file_hash(source));
  EXPECT_GE(took, least_seconds(size, 2 * kMiB));
  EXPECT_LE(took, 15.0);
}

TEST_F(Bandwidth, FtgetPacesItsDownload) {
  start_server();
  const std::uint64_t size = 6 * kMiB;
  fs::path source = make_source(size);
  fs::copy_file(source, root_.path() / "data.bin");
  const auto start = Clock::now();
  RunResult got =
      run({bin("ftget"), "--bwlimit", "1.5MiB/s", remote("data.bin"), (work_ / "got").string()});
  const double took = seconds_since(start);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(work_ / "got/data.bin"), file_hash(source));
  EXPECT_GE(took, least_seconds(size, 3 * kMiB / 2));
  EXPECT_LE(took, 15.0);
}

TEST_F(Bandwidth, ClientRejectsABadRate) {
  start_server();
  fs::path source = make_source(1);
  for (const char* bad : {"fast", "10X", "1K", "-5M"}) {
    RunResult sent =
        run({bin("ftsend"), std::string("--bwlimit=") + bad, source.string(), remote()});
    EXPECT_EQ(sent.exit_code, 2) << bad;
    EXPECT_NE(sent.err.find("--bwlimit"), std::string::npos) << sent.err;
  }
}

// The server's own limit paces both directions, and its idle timeout (1 s
// here) does not fire in the pauses: a 4 MiB download at 512 KiB/s waits
// about 2 s after each 1 MiB chunk.
TEST_F(Bandwidth, ServerWideLimitPacesBothWaysWithoutIdleTimeouts) {
  start_server({"--bwlimit", "512K", "--idle-timeout", "1s"});
  const std::uint64_t size = 4 * kMiB;
  fs::path source = make_source(size);
  auto start = Clock::now();
  RunResult sent = run({bin("ftsend"), source.string(), remote("in/")});
  double took = seconds_since(start);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_GE(took, least_seconds(size, 512 * 1024));
  EXPECT_LE(took, 30.0);

  start = Clock::now();
  RunResult got = run({bin("ftget"), remote("in/data.bin"), (work_ / "got").string()});
  took = seconds_since(start);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(file_hash(work_ / "got/data.bin"), file_hash(source));
  // The last chunk's debt is never waited for: three chunks' worth.
  EXPECT_GE(took, least_seconds(size - kMiB, 512 * 1024));
  EXPECT_LE(took, 30.0);
}

// Two clients of one identity share its limit.
TEST_F(Bandwidth, PerIdentityLimitIsSharedByItsConnections) {
  const fs::path keys = work_ / "keys";
  RunResult added = run({bin("ftserve"), "keys", "add", "alice", "--keys", keys.string(),
                         "--rights", "list,read,create,overwrite"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const fs::path key_file = work_ / "alice.key";
  write_private(key_file, added.out);
  start_server({"--keys", keys.string(), "--bwlimit-per-identity", "1M"});
  const std::uint64_t size = 2 * kMiB;
  fs::path source = make_source(size);
  fs::copy_file(source, work_ / "other.bin");
  const auto start = Clock::now();
  BackgroundProcess first;
  BackgroundProcess second;
  first.start({bin("ftsend"), "--key-file", key_file.string(), source.string(), remote("a/")});
  second.start({bin("ftsend"), "--key-file", key_file.string(), (work_ / "other.bin").string(),
                remote("b/")});
  RunResult one = first.finish();
  RunResult two = second.finish();
  const double took = seconds_since(start);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  auto landed = files_with_prefix(root_.path(), "data.bin");
  ASSERT_EQ(landed.size(), 1u);
  EXPECT_EQ(file_hash(landed.front()), file_hash(source));
  // 4 MiB at 1 MiB/s together; either alone would take 2 s.
  EXPECT_GE(took, least_seconds(2 * size, kMiB));
  EXPECT_LE(took, 30.0);
}

TEST_F(Bandwidth, ServerRejectsABadRate) {
  for (const char* bad : {"fast", "10K", "1.5.5M"}) {
    RunResult r = run(ftserve_argv(root_.path(), {"--bwlimit", bad}));
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("--bwlimit"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ft::testing
