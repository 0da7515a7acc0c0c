// The clients in a real terminal: tmux gives a pane of a chosen width, the
// transfers go through ft_test_proxy --rate so that the progress line is
// on screen long enough, and `tmux capture-pane` shows what a person
// sees. The line must carry percent, bar, rate and ETA, say "committing"
// while ftsend waits for the server, count ftget's files, never wrap at 40
// or 80 columns, and be gone at the end.
#include <time.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr const char* kTmux = "/usr/bin/tmux";
// Bytes per second through the proxy: a 12 MiB file takes about 4 s.
constexpr std::uint64_t kRate = 3 * 1024 * 1024;
constexpr std::uint64_t kFileSize = 12 * 1024 * 1024;
constexpr auto kDeadline = std::chrono::seconds(90);

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::size_t columns_of(const std::string& line) {
  std::size_t columns = 0;
  for (char c : line) columns += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return columns;
}

class TerminalTest : public ServerTest {
 protected:
  void SetUp() override {
    if (::access(kTmux, X_OK) != 0) {
      GTEST_FAIL() << kTmux << " is missing (scripts/common.sh FT_TEST_PACKAGES installs tmux)";
    }
    ServerTest::SetUp();
    std::string error;
    ASSERT_TRUE(proxy_.start({bin("ft_test_proxy"), "--target", loopback_remote(server_.port()),
                              "--rate", std::to_string(kRate)},
                             error))
        << error;
    socket_ = "ft-terminal-test-" + std::to_string(::getpid());
  }
  void TearDown() override {
    tmux({"kill-server"});
    proxy_.stop(SIGTERM);
    ServerTest::TearDown();
  }

  RunResult tmux(std::vector<std::string> args) {
    args.insert(args.begin(), {kTmux, "-f", "/dev/null", "-L", socket_});
    return run(args, std::chrono::seconds(20));
  }

  std::string via_proxy(const std::string& path) const {
    return loopback_remote(proxy_.port(), path);
  }

  // Runs `argv` in a new detached pane `columns` wide; the pane then shows
  // "EXIT=<status>" and stays open for capture.
  void start_in_pane(const std::vector<std::string>& argv, int columns) {
    // A tmux server of its own for each pane: a new session on the socket of
    // a server still exiting after kill-server fails ("server exited
    // unexpectedly").
    tmux({"kill-server"});
    socket_ = "ft-terminal-test-" + std::to_string(::getpid()) + "-" + std::to_string(++panes_);
    std::string command;
    for (const std::string& arg : argv) command += "'" + arg + "' ";
    const fs::path script = work_ / "pane.sh";
    write_file(script, command + "\necho \"EXIT=$?\"\nexec sleep 120\n");
    RunResult started = tmux({"new-session", "-d", "-x", std::to_string(columns), "-y", "24", "-s",
                              "pane", "/bin/sh " + script.string()});
    ASSERT_EQ(started.exit_code, 0) << started.err;
    RunResult width = tmux({"display-message", "-p", "-t", "pane", "#{pane_width}"});
    ASSERT_EQ(width.out, std::to_string(columns) + "\n") << width.err;
  }

  // Captures the pane every 50 ms until it shows "EXIT=" (bounded by
  // kDeadline); every capture before that one, in order.
  std::vector<std::string> capture_until_exit(std::string& final_screen) {
    std::vector<std::string> screens;
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      RunResult shot = tmux({"capture-pane", "-p", "-t", "pane"});
      if (shot.out.find("EXIT=") != std::string::npos) {
        final_screen = shot.out;
        return screens;
      }
      screens.push_back(shot.out);
      const timespec pause{0, 50'000'000};
      ::nanosleep(&pause, nullptr);
    }
    ADD_FAILURE() << "no EXIT= in the pane within the deadline";
    return screens;
  }

  // Every capture shows at most one non-empty line, narrower than the pane.
  static void expect_one_unwrapped_line(const std::vector<std::string>& screens,
                                        std::size_t columns) {
    for (const std::string& screen : screens) {
      std::size_t non_empty = 0;
      for (const std::string& line : lines_of(screen)) {
        if (line.find_first_not_of(' ') == std::string::npos) continue;
        ++non_empty;
        EXPECT_LT(columns_of(line), columns) << "[" << line << "]";
      }
      EXPECT_LE(non_empty, 1u) << "the line wrapped or something else was printed:\n" << screen;
    }
  }

  ListeningProcess proxy_;
  std::string socket_;
  int panes_ = 0;
};

TEST_F(TerminalTest, SendProgressFitsAndShowsEveryPiece) {
  const fs::path file = work_ / "big.bin";
  write_random_file(file, kFileSize, 7);
  for (int columns : {40, 80}) {
    SCOPED_TRACE("columns " + std::to_string(columns));
    const std::string name = "w" + std::to_string(columns);
    ASSERT_NO_FATAL_FAILURE(
        start_in_pane({bin("ftsend"), file.string(), via_proxy(name + "/")}, columns));
    std::string final_screen;
    const std::vector<std::string> screens = capture_until_exit(final_screen);
    EXPECT_NE(final_screen.find("EXIT=0"), std::string::npos) << final_screen;
    // The line is erased at the end: EXIT= is the first thing on screen.
    EXPECT_EQ(lines_of(final_screen).front(), "EXIT=0") << final_screen;
    expect_one_unwrapped_line(screens, static_cast<std::size_t>(columns));
    const std::regex percent_and_bar(R"(^ *[0-9]{1,3}% \[[#-]+\])");
    bool percent = false, rate = false, eta = false, committing = false;
    for (const std::string& screen : screens) {
      const std::string line = lines_of(screen).empty() ? "" : lines_of(screen).front();
      percent = percent || std::regex_search(line, percent_and_bar);
      rate = rate || line.find("iB/s") != std::string::npos;
      eta = eta || std::regex_search(line, std::regex("ETA [0-9]{2}:[0-9]{2}"));
      committing = committing || line.find("committing") != std::string::npos;
    }
    EXPECT_TRUE(percent) << screens.size() << " captures";
    EXPECT_TRUE(rate);
    EXPECT_TRUE(eta);
    EXPECT_TRUE(committing);
    if (columns == 80 && !screens.empty()) {
      bool sizes = false;
      for (const std::string& screen : screens) {
        sizes = sizes || screen.find("/12.0MiB") != std::string::npos;
      }
      EXPECT_TRUE(sizes) << "no bytes done/total at 80 columns";
    }
    EXPECT_EQ(fs::file_size(root_.path() / name / "big.bin"), kFileSize);
  }
}

TEST_F(TerminalTest, GetProgressCountsFiles) {
  fs::create_directories(root_.path() / "tree");
  for (int i = 0; i < 3; ++i) {
    write_random_file(root_.path() / "tree" / ("f" + std::to_string(i)), kFileSize / 3, i);
  }
  const fs::path landing = work_ / "landing";
  ASSERT_NO_FATAL_FAILURE(
      start_in_pane({bin("ftget"), "-r", via_proxy("tree"), landing.string()}, 80));
  std::string final_screen;
  const std::vector<std::string> screens = capture_until_exit(final_screen);
  EXPECT_NE(final_screen.find("EXIT=0"), std::string::npos) << final_screen;
  expect_one_unwrapped_line(screens, 80);
  bool counted = false;
  for (const std::string& screen : screens) {
    EXPECT_EQ(screen.find(" 0/0 files"), std::string::npos) << screen;
    counted = counted || std::regex_search(screen, std::regex(" [0-3]/3 files"));
  }
  EXPECT_TRUE(counted) << screens.size() << " captures";

  // A plain ftget knows its file count before the first byte.
  ASSERT_NO_FATAL_FAILURE(start_in_pane(
      {bin("ftget"), via_proxy("tree/f0"), via_proxy("tree/f1"), (work_ / "plain").string()}, 60));
  const std::vector<std::string> plain = capture_until_exit(final_screen);
  EXPECT_NE(final_screen.find("EXIT=0"), std::string::npos) << final_screen;
  expect_one_unwrapped_line(plain, 60);
  bool two = false;
  for (const std::string& screen : plain) {
    two = two || std::regex_search(screen, std::regex(" [0-2]/2 files"));
  }
  EXPECT_TRUE(two) << plain.size() << " captures";
}

TEST_F(TerminalTest, LongListingInATerminal) {
  fs::create_directories(root_.path() / "d/sub");
  write_random_file(root_.path() / "d/big", 3 * 1024 * 1024 + 5, 1);
  fs::create_symlink("big", root_.path() / "d/latest");
  ASSERT_NO_FATAL_FAILURE(start_in_pane({bin("ftls"), "-l", "-h", remote("d")}, 80));
  std::string final_screen;
  capture_until_exit(final_screen);
  EXPECT_NE(final_screen.find(" 3.1M "), std::string::npos) << final_screen;
  EXPECT_NE(final_screen.find(" latest -> big"), std::string::npos) << final_screen;
  EXPECT_NE(final_screen.find(" sub/"), std::string::npos) << final_screen;
  EXPECT_NE(final_screen.find("EXIT=0"), std::string::npos) << final_screen;
}

TEST_F(TerminalTest, StatsAndHumanSizesAfterTheProgressLine) {
  fs::create_directories(work_ / "tree/sub");
  write_random_file(work_ / "tree/sub/big", kFileSize / 2, 9);
  fs::create_symlink("sub/big", work_ / "tree/link");
  ASSERT_NO_FATAL_FAILURE(start_in_pane({bin("ftsend"), "-r", "--no-links", "-h", "--stats",
                                         (work_ / "tree").string(), via_proxy("s")},
                                        80));
  std::string final_screen;
  capture_until_exit(final_screen);
  const std::vector<std::string> lines = lines_of(final_screen);
  // The progress line is gone; the skipped link and the block remain.
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find("ETA"), std::string::npos) << final_screen;
    EXPECT_EQ(line.find("committing"), std::string::npos) << final_screen;
  }
  EXPECT_NE(final_screen.find("ftsend: skipped symlink"), std::string::npos) << final_screen;
  EXPECT_NE(final_screen.find("Number of files: 2 (sent: 1, unchanged: 0, links skipped: 1"),
            std::string::npos)
      << final_screen;
  EXPECT_NE(final_screen.find("Total bytes sent: 6.0 MiB (6,291,456 bytes)"), std::string::npos)
      << final_screen;
  EXPECT_NE(final_screen.find("EXIT=0"), std::string::npos) << final_screen;
}

}  // namespace
}  // namespace ft::testing
