// ftserve --partial-ttl (issue 4): at startup, before the ready line, the
// server removes .ft-part-* and .ft-tmp-* files older than the TTL anywhere
// under its root, and touches nothing else.
#include <fcntl.h>
#include <sys/stat.h>

#include <ctime>

#include "support/resume_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::int64_t kDay = 24 * 60 * 60;

// Sets a file's mtime (and atime) to `age_seconds` ago; returns that mtime.
std::int64_t backdate(const fs::path& path, std::int64_t age_seconds) {
  std::int64_t when = static_cast<std::int64_t>(std::time(nullptr)) - age_seconds;
  struct timespec times[2] = {{static_cast<time_t>(when), 0}, {static_cast<time_t>(when), 0}};
  EXPECT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
  return when;
}

std::int64_t mtime_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_mtim.tv_sec;
}

class PartialTtl : public ResumeTest {
 protected:
  // A real partial from a cut upload into a/b, backdated two days, plus old
  // ordinary files and hand-made leftovers, with the server stopped.
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ResumeTest::SetUp());
    source_ = work_ / "big.bin";
    write_random_file(source_, 4 * kMiB, 71);
    ProxiedRun cut = run_through_proxy(
        {"--cut-after", std::to_string(3 * kMiB)}, [&](const std::string& address) {
          return std::vector<std::string>{bin("ftsend"), "--retries", "0", source_.string(),
                                          address + "/a/b/"};
        });
    ASSERT_EQ(cut.result.exit_code, kExitConnection) << cut.result.err;
    stop_server();
    auto partials = files_with_prefix(root_.path(), ".ft-part-");
    ASSERT_EQ(partials.size(), 1u) << "the cut upload left no partial";
    partial_ = partials.front();
    ASSERT_GT(fs::file_size(partial_), 0u);
    backdate(partial_, 2 * kDay);

    stale_temp_ = root_.path() / "a" / ".ft-tmp-0123456789abcdef";
    write_file(stale_temp_, "left by a killed server");
    backdate(stale_temp_, 2 * kDay);
    fresh_partial_ = root_.path() / ".ft-part-0123456789abcdef0123456789abcdef";
    write_file(fresh_partial_, "fresh");

    old_file_ = root_.path() / "old.txt";
    write_file(old_file_, "ten days old, and complete");
    old_mtime_ = backdate(old_file_, 10 * kDay);
    old_nested_ = root_.path() / "a" / "b" / "older.bin";
    write_file(old_nested_, "also complete");
    backdate(old_nested_, 30 * kDay);
    // An ordinary file whose name only looks like the server's own.
    lookalike_ = root_.path() / "a" / "ft-part-not-hidden";
    write_file(lookalike_, "mine");
    backdate(lookalike_, 30 * kDay);
  }

  void expect_ordinary_files_untouched() {
    EXPECT_EQ(read_file(old_file_), "ten days old, and complete");
    EXPECT_EQ(mtime_of(old_file_), old_mtime_);
    EXPECT_EQ(read_file(old_nested_), "also complete");
    EXPECT_EQ(read_file(lookalike_), "mine");
  }

  fs::path source_, partial_, stale_temp_, fresh_partial_, old_file_, old_nested_, lookalike_;
  std::int64_t old_mtime_ = 0;
};

TEST_F(PartialTtl, StalePartialsAreRemovedBeforeTheReadyLine) {
  ASSERT_NO_FATAL_FAILURE(start_server({"--partial-ttl", "1d"}));
  // No waiting: the cleanup is done before "listening on" is printed.
  EXPECT_FALSE(fs::exists(partial_)) << "a two-day-old partial survived --partial-ttl 1d";
  EXPECT_FALSE(fs::exists(stale_temp_)) << "a two-day-old .ft-tmp- survived --partial-ttl 1d";
  EXPECT_TRUE(fs::exists(fresh_partial_)) << "a fresh partial was removed";
  expect_ordinary_files_untouched();

  // The upload starts over and still succeeds.
  RunResult again = run({bin("ftsend"), source_.string(), remote("a/b/")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(file_hash(root_.path() / "a" / "b" / "big.bin"), file_hash(source_));
}

TEST_F(PartialTtl, PartialsYoungerThanTheTtlStayAndResume) {
  ASSERT_NO_FATAL_FAILURE(start_server({"--partial-ttl", "3d"}));
  EXPECT_TRUE(fs::exists(partial_)) << "a two-day-old partial was removed with --partial-ttl 3d";
  // A temporary file cannot be resumed: the start-up pass removes it
  // whatever the TTL (issue 17).
  EXPECT_FALSE(fs::exists(stale_temp_));
  EXPECT_TRUE(fs::exists(fresh_partial_));
  expect_ordinary_files_untouched();

  RunResult again = run({bin("ftsend"), "-v", source_.string(), remote("a/b/")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(file_hash(root_.path() / "a" / "b" / "big.bin"), file_hash(source_));
  std::string log = stop_server();
  auto offset = logged_put_offset(log, "a/b/big.bin");
  ASSERT_TRUE(offset.has_value()) << log;
  EXPECT_GT(*offset, 0u) << log;
}

// The cleanup also runs while serving (every min(ttl, 1 h)): a partial that
// ages past a 1 s TTL goes without a restart; a complete file stays.
TEST_F(ResumeTest, PartialsAgingWhileTheServerRunsAreRemovedToo) {
  stop_server();
  ASSERT_NO_FATAL_FAILURE(start_server({"--partial-ttl", "1s"}));
  fs::path partial = root_.path() / ".ft-part-0123456789abcdef0123456789abcdef";
  write_file(partial, "will age");
  write_file(root_.path() / "complete", "stays");
  backdate(root_.path() / "complete", kDay);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (int check = 0; check < 1500 && fs::exists(partial); ++check) {
    if (std::chrono::steady_clock::now() > until) break;
    // A file system check; the loop ends on the condition or the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(fs::exists(partial)) << "the periodic cleanup did not run within 15 s";
  EXPECT_EQ(read_file(root_.path() / "complete"), "stays");
}

TEST_F(ResumeTest, PartialTtlAcceptsItsUnitsAndRefusesNonsense) {
  stop_server();
  for (const char* good : {"30s", "15m", "12h", "3d", "3600"}) {
    ListeningProcess server;
    std::string error;
    EXPECT_TRUE(server.start(ftserve_argv(root_.path(), {"--partial-ttl", good}), error))
        << good << ": " << error;
    EXPECT_EQ(server.stop(SIGTERM), 0) << good << ": " << server.err();
  }
  for (const char* bad : {"", "abc", "5x", "-1d", "d"}) {
    RunResult refused =
        run(ftserve_argv(root_.path(), {"--partial-ttl", bad}), std::chrono::seconds(10));
    EXPECT_EQ(refused.exit_code, 2) << "--partial-ttl '" << bad << "': " << refused.err;
  }
}

}  // namespace
}  // namespace ft::testing
