// Big files within a small footprint (issue 15, part 4): over a 256 MiB
// upload and download, plain and with a key, ftserve, ftsend and ftget each
// peak under 16 MiB of RSS; ftsend --compress under 22 MiB, onto no copy,
// onto an older copy changed in 4 KiB (a delta) and onto one of other
// content (a delta all DATA). The bounds are Release figures: scripts/test
// runs these in its Release step; a sanitized build skips them (ASan's
// shadow memory is not the program's). The files live on tmpfs.
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/harness.hpp"
#include "support/measured_run.hpp"
#include "support/process_status.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using namespace std::chrono_literals;

// Issue 15's bound for ftserve and each client in the big-file rows.
constexpr long kBoundKib = 16 * 1024;
// ftsend --compress's, delta or not, at the default level and chunk size
// (docs/client.md, "Compression": the formula and what it counts).
constexpr long kCompressBoundKib = 22 * 1024;
constexpr std::size_t kFileBytes = 256u << 20;

// `bytes` of pseudo-random data (incompressible, like the bench's file).
void write_random_file(const fs::path& path, std::size_t bytes, std::uint64_t seed = 42) {
  std::ofstream out(path, std::ios::binary);
  std::mt19937_64 random(seed);
  std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
  for (std::size_t done = 0; done < bytes; done += block.size() * 8) {
    for (auto& word : block) word = random();
    out.write(reinterpret_cast<const char*>(block.data()),
              static_cast<std::streamsize>(block.size() * 8));
  }
}

class BigFileMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kSanitized) GTEST_SKIP() << "a Release bound (scripts/test's Release step)";
    write_random_file(work_.path() / "big", kFileBytes);
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      const int status = server_.stop(SIGTERM);
      EXPECT_EQ(status, 0) << server_.err();
    }
  }
  // `ftserve keys add`: the extra client arguments for its key.
  std::vector<std::string> add_key() {
    const fs::path keys = work_.path() / "keys";
    RunResult r = run({bin("ftserve"), "keys", "add", "bench", "--keys", keys.string(), "--rights",
                       "list,read,create,overwrite"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const fs::path key_file = work_.path() / "bench.key";
    write_file(key_file, r.out);
    ::chmod(key_file.c_str(), 0600);
    server_args_ = {"--keys", keys.string()};
    return {"--key-file", key_file.string()};
  }
  void client(std::vector<std::string> argv, const std::string& what, long bound_kib = kBoundKib) {
    const Measured m =
        run_measured(argv, work_.path() / (what + ".out"), work_.path() / (what + ".err"), 300s);
    std::printf("%s: exit %d, peak RSS %ld KiB, %.2f s\n", what.c_str(), m.exit_code, m.peak_kib,
                m.seconds);
    EXPECT_EQ(m.exit_code, 0) << what;
    EXPECT_GT(m.peak_kib, 0);
    EXPECT_LE(m.peak_kib, bound_kib) << what;
  }
  // One ftserve for the upload and then the download, as in scripts/bench's
  // big rows: its peak covers both, and what the first transfer leaves
  // behind counts against the second.
  void up_and_down(const std::vector<std::string>& key_args) {
    start_ftserve(server_, root_.path(), server_args_);
    std::vector<std::string> send = {bin("ftsend"), "-q"};
    send.insert(send.end(), key_args.begin(), key_args.end());
    send.push_back((work_.path() / "big").string());
    send.push_back(loopback_remote(server_.port(), "big"));
    client(send, "ftsend");
    std::vector<std::string> get = {bin("ftget"), "-q"};
    get.insert(get.end(), key_args.begin(), key_args.end());
    get.push_back(loopback_remote(server_.port(), "big"));
    get.push_back((work_.path() / "back").string());
    client(get, "ftget");
    expect_server_peak("an upload and a download of 256 MiB");
    EXPECT_EQ(fs::file_size(work_.path() / "back" / "big"), kFileBytes);
    EXPECT_EQ(file_hash(work_.path() / "back" / "big"), file_hash(work_.path() / "big"));
  }
  void expect_server_peak(const char* what) {
    const long hwm = status_kib(server_.pid(), "VmHWM");
    std::printf("ftserve after %s: VmHWM %ld KiB\n", what, hwm);
    EXPECT_GT(hwm, 0);
    EXPECT_LE(hwm, kBoundKib) << what;
    EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
  }

  ShmDir root_;
  ShmDir work_;
  ListeningProcess server_;
  std::vector<std::string> server_args_;
};

TEST_F(BigFileMemoryTest, PlainUpAndDownStayUnder16MiB) {
  up_and_down({});
}

TEST_F(BigFileMemoryTest, KeyedUpAndDownStayUnder16MiB) {
  up_and_down(add_key());
}

// A compressed upload holds chunks and their frames on its two threads; a
// delta one besides a window of the file and the signature's index, and
// queued a whole window's DATA at once until 2026-12-07 (25 MiB when the
// older copy had other content). The server's copy must be the file each
// time: the delta's COPY and DATA put it together.
TEST_F(BigFileMemoryTest, CompressedUploadsWithAndWithoutDeltaStayUnder22MiB) {
  start_ftserve(server_, root_.path(), server_args_);
  const fs::path big = work_.path() / "big";
  // -v says "delta: big against the server's copy ..." when it is one.
  const auto send = [&](const std::string& what, bool delta) {
    client({bin("ftsend"), "-v", "--compress", big.string(), loopback_remote(server_.port(), "")},
           what, kCompressBoundKib);
    EXPECT_EQ(file_hash(root_.path() / "big"), file_hash(big)) << what;
    std::string said = read_file(work_.path() / (what + ".out"));
    said.append(read_file(work_.path() / (what + ".err")));
    EXPECT_EQ(said.find("delta: ") != std::string::npos, delta) << what << ": " << said;
  };
  send("whole", false);
  {
    // 4 KiB changed in the middle: the server signs its copy, and the
    // upload is COPY frames but for a block or two.
    std::fstream file(big, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(static_cast<std::streamoff>(kFileBytes / 2));
    const std::string changed(4096, 'x');
    file.write(changed.data(), static_cast<std::streamsize>(changed.size()));
  }
  send("delta-4KiB", true);
  write_random_file(big, kFileBytes, 7);
  send("delta-rewritten", true);
}

}  // namespace
}  // namespace ft::testing
