// Identities stay apart under races (issue 10, requirement 3): while one
// thread swaps a directory of an identity's tree for a link out of it, for
// another directory (a rename), and plants hard links to files outside,
// that identity's uploads, MKDIRs, SYMLINKs and downloads through that
// directory never read or write anything outside its tree.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/harness.hpp"
#include "support/raw_client.hpp"
#include "support/raw_requests.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr const char* kOutsideSecret = "the other tree's secret";
constexpr const char* kHardLinkTarget = "a file outside, hard-linked in";
constexpr const char* kFarSecret = "outside the served root";

class IdentityRace : public ServerFixture {};

TEST_F(IdentityRace, SwappedDirectoriesNeverLeadOutsideTheTree) {
  const fs::path keys = work_ / "keys";
  RunResult added = run({bin("ftserve"), "keys", "add", "alice", "--keys", keys.string(),
                         "--rights", "list,read,create,overwrite", "--subdir", "alice"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const fs::path alice = root_.path() / "alice";
  const fs::path outside = root_.path() / "outside";
  const fs::path far = work_ / "far";
  fs::create_directories(alice / "d");
  fs::create_directories(alice / "spare");
  fs::create_directories(outside);
  fs::create_directories(far);
  write_file(alice / "d/f", "alice");
  write_file(outside / "secret", kOutsideSecret);
  write_file(outside / "hl", kHardLinkTarget);
  write_file(far / "secret", kFarSecret);
  // Links out of alice's tree, swapped in for d: relative into the other
  // tree, and absolute out of the served root.
  fs::create_directory_symlink("../outside", alice / "to-outside");
  fs::create_directory_symlink(far, alice / "to-far");
  start_server({"--keys", keys.string()});

  RawClient client(server_.port(), keyed(added.out));
  ASSERT_TRUE(client.connected());
  client.send_hello(kCapTrees | kCapEager);
  ASSERT_TRUE(client.read_hello());

  std::atomic<bool> stop{false};
  std::atomic<bool> swapper_done{false};
  std::atomic<int> swaps{0};
  std::thread swapper([&] {
    const std::string d = (alice / "d").string();
    const auto exchange = [&](const fs::path& other) {
      ::renameat2(AT_FDCWD, d.c_str(), AT_FDCWD, other.c_str(), RENAME_EXCHANGE);
    };
    // The link stays in place a little while, so that requests meet it
    // and not only the instant of a swap (this orders nothing).
    const auto hold_link = [] { std::this_thread::sleep_for(std::chrono::microseconds(200)); };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (int i = 0; i < 10'000'000 && !stop && std::chrono::steady_clock::now() < deadline; ++i) {
      switch (i % 4) {
        case 0:  // d becomes a link into the other tree, and back
          exchange(alice / "to-outside");
          hold_link();
          exchange(alice / "to-outside");
          break;
        case 1:  // d becomes an absolute link out of the root, and back
          exchange(alice / "to-far");
          hold_link();
          exchange(alice / "to-far");
          break;
        case 2:  // d is renamed away, another directory renamed in
          exchange(alice / "spare");
          break;
        default:  // a hard link to a file outside, planted where uploads go
          ::unlink((alice / "d/f").c_str());
          ::link((outside / "hl").c_str(), (alice / "d/f").c_str());
          break;
      }
      ++swaps;
    }
    swapper_done = true;
  });

  int ok = 0;
  int refused = 0;  // requests that met a link where d was
  int rounds = 0;
  std::uint32_t id = 1;
  // Requests for as long as the swapper runs (at most 3 s), or 300 rounds.
  for (int round = 0; round < 300 && !swapper_done; ++round) {
    const std::string put =
        put_file(client, id++, "d/f", "alice " + std::to_string(round), 0644, round % 2 == 0);
    const std::string mkdir = make_dir(client, id++, "d/sub", 0755);
    const std::string link = make_link(client, id++, "d/l" + std::to_string(round % 8), "f");
    const std::string got = get_file(client, id++, "d/f");
    EXPECT_NE(got, kOutsideSecret);
    EXPECT_NE(got, kFarSecret);
    ok += (put == "OK") + (mkdir == "OK") + (link == "OK");
    refused += (put == "PATH_ESCAPES_ROOT") + (mkdir == "PATH_ESCAPES_ROOT") +
               (link == "PATH_ESCAPES_ROOT") + (got == "ERROR:PATH_ESCAPES_ROOT");
    ++rounds;
    if (put == "NO_REPLY" || mkdir == "NO_REPLY" || link == "NO_REPLY" || got == "NO_REPLY") {
      ADD_FAILURE() << "the server stopped answering in round " << round;
      break;
    }
  }
  stop = true;
  swapper.join();
  EXPECT_GT(swaps.load(), 100);
  // The figures of the run, for the record: how often a request met a
  // link or the real directory depends on the machine's load (a loaded CI
  // machine once saw every request of a run meet a link), so neither is
  // asserted.
  std::printf("swaps=%d rounds=%d ok=%d refused_through_link=%d\n", swaps.load(), rounds, ok,
              refused);
  // What proves the refusals came from the links and not from a server
  // that refuses everything: with the race over and d a directory again,
  // the same requests succeed.
  ASSERT_TRUE(fs::is_directory(fs::symlink_status(alice / "d")));
  EXPECT_EQ(put_file(client, id++, "d/f", "alice after", 0644, false), "OK");
  EXPECT_EQ(make_dir(client, id++, "d/sub", 0755), "OK");
  EXPECT_EQ(make_link(client, id++, "d/after", "f"), "OK");
  EXPECT_EQ(get_file(client, id++, "d/f"), "alice after");

  // Nothing outside alice's tree was written, created or replaced.
  EXPECT_EQ(tree_names(outside), (std::vector<std::string>{"hl", "secret"}));
  EXPECT_EQ(read_file(outside / "secret"), kOutsideSecret);
  EXPECT_EQ(read_file(outside / "hl"), kHardLinkTarget);
  EXPECT_EQ(tree_names(far), std::vector<std::string>{"secret"});
  EXPECT_EQ(read_file(far / "secret"), kFarSecret);
  // Outside alice's directory the served root holds only what it held.
  std::vector<std::string> top;
  for (const auto& entry : fs::directory_iterator(root_.path())) {
    top.push_back(entry.path().filename().string());
  }
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{"alice", "outside"}));
  // Every link alice made points at "f" beside it.
  for (auto it = fs::recursive_directory_iterator(alice); it != fs::end(it); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_symlink() && name != "to-outside" && name != "to-far") {
      EXPECT_EQ(fs::read_symlink(it->path()), "f") << it->path();
    }
  }
}

}  // namespace
}  // namespace ft::testing
