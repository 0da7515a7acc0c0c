// Issue 17, requirement 4: power cuts on a real file system. The file
// system under test is ext4 on a loop device, mounted so that nothing but
// ft's own syncs puts data on the device (crash_image.hpp). Right after
// each acknowledgement (a client exiting 0, or a per-file line of its
// --json output) the image is copied as it is on the device, repaired,
// mounted and compared: every acknowledged file, directory and link is
// there with its exact bytes (and a file's mtime), and no final name holds
// anything partial. A first test proves the method sees a missing sync.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "support/crash_image.hpp"
#include "support/loop_mount.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr int kRounds = 3;
// Power cuts during one tree transfer, at most: one after each of its first
// batches of per-file lines (each cut costs a copy, a repair and a hash of
// every acknowledged file, and keeps the test within its time).
constexpr int kCutsPerTree = 3;
constexpr auto kLineDeadline = std::chrono::milliseconds(60'000);

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "  " + line + "\n";
  return text;
}

// fsync of a file or directory, for the test's own set-up and the control.
void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  EXPECT_EQ(::fsync(fd), 0) << path;
  ::close(fd);
}

// A directory the test itself makes on the file system under test, durable
// before a client uses it: the clients answer for their own names only.
void make_durable_directory(const fs::path& dir) {
  fs::create_directories(dir);
  ASSERT_NO_FATAL_FAILURE(fsync_path(dir));
  ASSERT_NO_FATAL_FAILURE(fsync_path(dir.parent_path()));
}

// The files of a tree made by make_tree, by path relative to its parent.
struct TreeFiles {
  std::vector<fs::path> files;        // absolute
  std::vector<fs::path> directories;  // absolute, the top included
};

// `dirs` directories of `files` small files each under `top`, plus
// `big` bytes in one more file (0: none): the small ones share group
// commits.
TreeFiles make_tree(const fs::path& top, int dirs, int files, std::uint64_t big,
                    std::uint32_t seed) {
  TreeFiles tree;
  tree.directories.push_back(top);
  for (int d = 0; d < dirs; ++d) {
    const fs::path dir = top / ("d" + std::to_string(d));
    fs::create_directories(dir);
    tree.directories.push_back(dir);
    for (int f = 0; f < files; ++f) {
      tree.files.push_back(dir / ("f" + std::to_string(f) + ".bin"));
      write_random_file(tree.files.back(), 100 + 211 * f + 7 * d, seed++);
    }
  }
  if (big > 0) {
    tree.files.push_back(top / "big.bin");
    write_random_file(tree.files.back(), big, seed);
  }
  return tree;
}

class CrashTest : public ServerFixture {
 protected:
  void TearDown() override {
    ServerFixture::TearDown();
    under_test_.unmount();
    std::cout << "[ crash    ] " << cuts_ << " power cuts";
    if (tree_cuts_ > 0) {
      std::cout << " (" << tree_cuts_ << " during tree transfers, " << cuts_during_transfer_
                << " of them before the client exited)";
    }
    std::cout << ", " << cut_seconds_ << " s in copies, repairs and checks; "
              << expected_.acknowledged() << " acknowledged entries at the end\n";
  }

  // Mounts a fresh ext4 image at `point` with kCrashMountOptions (or, with
  // `journal` false, an image made without a journal); skips the test when
  // the kernel refuses loop devices or mounts.
  void mount_under_test(const fs::path& point, bool journal = true) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting an ext4 image needs root";
    if (std::string why = loop_devices_unavailable(); !why.empty()) GTEST_SKIP() << why;
    image_ = work_ / "under-test.img";
    std::vector<std::string> mkfs = kCrashMkfsOptions;
    if (!journal) mkfs.insert(mkfs.end(), {"-O", "^has_journal"});
    const std::string made = make_ext4_image(image_, 256 * kMiB, mkfs);
    ASSERT_TRUE(made.empty()) << made;
    // Without a journal there is no journal mode or commit interval to set.
    LoopMount mount =
        mount_loop(image_, point, journal ? kCrashMountOptions : "noauto_da_alloc", under_test_);
    if (mount.outcome == LoopMount::Outcome::kRefused) {
      GTEST_SKIP() << "the kernel refused to mount a loop device: " << mount.message;
    }
    ASSERT_EQ(mount.outcome, LoopMount::Outcome::kMounted) << mount.message;
    point_ = point;
  }

  void send_trees_with_cuts();

  // Cuts the power now and expects the copy to hold what expected_ says.
  void expect_survives(const std::vector<pid_t>& writers, const std::string& when) {
    CrashCheck check = cut_power(image_, work_.path(), writers, expected_);
    ++cuts_;
    cut_seconds_ += check.seconds;
    ASSERT_TRUE(check.failure.empty()) << "power cut " << when << ": " << check.failure;
    EXPECT_TRUE(check.problems.empty()) << "power cut " << when << ":\n"
                                        << joined(check.problems) << "e2fsck said:\n"
                                        << check.fsck_output;
  }

  // ftsend of `source` into `remote_dir` through ft_test_proxy, which cuts
  // the connection after `bytes` sent upstream; no retry.
  RunResult send_cut_after(const fs::path& source, const std::string& remote_dir,
                           std::uint64_t bytes) {
    ListeningProcess proxy;
    std::string error;
    if (!proxy.start({bin("ft_test_proxy"), "--target", loopback_remote(server_.port()),
                      "--cut-after", std::to_string(bytes)},
                     error)) {
      ADD_FAILURE() << "ft_test_proxy: " << error;
      return {};
    }
    RunResult result = run({bin("ftsend"), "--retries", "0", source.string(),
                            loopback_remote(proxy.port(), remote_dir + "/")});
    proxy.stop(SIGTERM);
    return result;
  }

  // The name under the file system's root of a local path a client printed.
  std::string name_under_test(const fs::path& local) const {
    return local.lexically_relative(point_).string();
  }

  // Runs `argv` (a client with --json) in the background and acknowledges
  // the file of each of its `event` lines: its local `path` mapped to a
  // name under test by `name_of`, whose content is that of
  // `source_of(name)`. Cuts the power after each of the first kCutsPerTree
  // batches of lines read together, stopping `server` (if above 0)
  // meanwhile. The client is never stopped: in one full ctest run ftget,
  // stopped this way, died of a signal with no message; the likeliest
  // reason is a stop landing in its exit, in LeakSanitizer's scan, which
  // stops every thread itself. Returns the client's result.
  RunResult run_tree_with_cuts(const std::vector<std::string>& argv, const std::string& event,
                               const std::function<std::string(const fs::path&)>& name_of,
                               const std::function<fs::path(const std::string&)>& source_of,
                               pid_t server) {
    BackgroundProcess client;
    client.start(argv);
    int cuts = 0;
    for (auto lines = client.read_lines(kLineDeadline); !lines.empty();
         lines = client.read_lines(kLineDeadline)) {
      bool acknowledged = false;
      for (const std::string& line : lines) {
        const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
        if (parsed.is_discarded() || parsed.value("event", "") != event) continue;
        const std::string name = name_of(parsed.value("path", ""));
        expected_.acknowledge_file(name, source_of(name));
        acknowledged = true;
      }
      if (acknowledged && cuts < kCutsPerTree) {
        ++cuts;
        ++tree_cuts_;
        // Reported, not asserted: how often the cut caught the client at
        // work depends on the scheduler.
        siginfo_t exited{};
        ::waitid(P_PID, static_cast<id_t>(client.pid()), &exited, WEXITED | WNOHANG | WNOWAIT);
        if (exited.si_pid == 0) ++cuts_during_transfer_;
        std::vector<pid_t> writers;
        if (server > 0) writers.push_back(server);
        expect_survives(writers, "during " + argv.back() + " (cut " + std::to_string(cuts) + ")");
        if (HasFatalFailure()) break;
      }
    }
    return client.finish(std::chrono::seconds(120));
  }

  fs::path image_;
  fs::path point_;
  MountGuard under_test_;
  CrashExpectations expected_;
  int cuts_ = 0;
  int tree_cuts_ = 0;
  int cuts_during_transfer_ = 0;
  double cut_seconds_ = 0;
};

// The control: without its sync a write is lost (never synced: no name or
// no bytes; renamed into place without syncing the file, then the
// directory synced: an empty file under the final name), with it the file
// is there. If this fails the kernel wrote back on its own before the copy
// and the other tests could not see a missing sync on this machine.
TEST_F(CrashTest, ACopyHoldsOnlyWhatWasSynced) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path()));
  if (IsSkipped()) return;
  const fs::path content = work_ / "content.bin";
  write_random_file(content, 300'000, 1);
  const fs::path dir = root_.path();
  fs::copy_file(content, dir / "never-synced");
  fs::copy_file(content, dir / ".ft-control-a");
  fs::rename(dir / ".ft-control-a", dir / "renamed-unsynced");
  ASSERT_NO_FATAL_FAILURE(fsync_path(dir));
  fs::copy_file(content, dir / ".ft-control-b");
  ASSERT_NO_FATAL_FAILURE(fsync_path(dir / ".ft-control-b"));
  fs::rename(dir / ".ft-control-b", dir / "kept");
  ASSERT_NO_FATAL_FAILURE(fsync_path(dir));
  // The live files are the sources: the same bytes, and their own mtimes.
  for (const char* name : {"never-synced", "renamed-unsynced", "kept"}) {
    expected_.acknowledge_file(name, dir / name);
  }

  CrashCheck check = cut_power(image_, work_.path(), {}, expected_);
  ++cuts_;
  cut_seconds_ += check.seconds;
  ASSERT_TRUE(check.failure.empty()) << check.failure;
  auto reported = [&](const std::string& name) {
    for (const std::string& problem : check.problems) {
      if (problem.find(" " + name + " ") != std::string::npos ||
          problem.rfind(name + " ", 0) == 0) {
        return true;
      }
    }
    return false;
  };
  const std::string eager =
      "the kernel wrote unsynced data back before the copy: on this "
      "machine a missing sync cannot be seen\n";
  EXPECT_TRUE(reported("never-synced")) << eager << joined(check.problems);
  EXPECT_TRUE(reported("renamed-unsynced")) << eager << joined(check.problems);
  EXPECT_FALSE(reported("kept")) << joined(check.problems);
  EXPECT_EQ(check.problems.size(), 2u) << joined(check.problems);
}

TEST_F(CrashTest, PlainUploadsSurviveAPowerCutRightAfterTheirOk) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path()));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(start_server());
  // One byte, an eager upload of one chunk, a resumable one of four.
  const std::uint64_t sizes[kRounds] = {1, 200 * 1024 + 3, 3 * kMiB + 17};
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = "file" + std::to_string(round) + ".bin";
    const fs::path source = work_ / name;
    write_random_file(source, sizes[round], 100 + round);
    RunResult sent = run({bin("ftsend"), source.string(), remote("plain/")});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    expected_.acknowledge_directory("plain");
    expected_.acknowledge_file("plain/" + name, source);
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the OK of " + name));
  }
}

// Group commits of `kRounds` trees, each cut after every acknowledged file.
void CrashTest::send_trees_with_cuts() {
  for (int round = 0; round < kRounds; ++round) {
    const std::string top = "tree" + std::to_string(round);
    const std::string remote_dir = "trees/r" + std::to_string(round);
    const TreeFiles tree = make_tree(work_ / top, 3, 24, 0, 1000 * (round + 1));
    // Every file may be committed before its line is read; none partially.
    for (const fs::path& file : tree.files) {
      expected_.allow_file(remote_dir + "/" + file.lexically_relative(work_.path()).string(), file);
    }
    RunResult sent = run_tree_with_cuts(
        {bin("ftsend"), "-r", "--json", (work_ / top).string(), remote(remote_dir)}, "sent",
        [&](const fs::path& local) {
          return remote_dir + "/" + local.lexically_relative(work_.path()).string();
        },
        [&](const std::string& name) {
          return work_.path() / fs::path(name).lexically_relative(remote_dir);
        },
        server_.pid());
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    for (const fs::path& dir : tree.directories) {
      expected_.acknowledge_directory(remote_dir + "/" +
                                      dir.lexically_relative(work_.path()).string());
    }
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after ftsend -r " + top));
  }
}

TEST_F(CrashTest, GroupCommitsOfATreeSurviveAPowerCutAfterEachFile) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path()));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_NO_FATAL_FAILURE(send_trees_with_cuts());
}

// The same on ext4 made without a journal (a server's disk may be one, as
// the bench machine's is): no journal replay repairs the copy, only
// e2fsck, so every inode, bitmap and directory block an acknowledged file
// needs must have been written by ft's syncs. The copy sees every write
// the loop device completed: this checks what the syncs write and when,
// not the cache flush ftserve adds after syncfs (docs/server.md).
TEST_F(CrashTest, GroupCommitsOfATreeSurviveAPowerCutWithoutAJournal) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path(), false));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(start_server());
  ASSERT_NO_FATAL_FAILURE(send_trees_with_cuts());
}

TEST_F(CrashTest, AResumedUploadSurvivesAPowerCutAfterItsOk) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path()));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(start_server());
  // The first attempt creates the directory: an empty one is no partial file.
  expected_.allow_directory("resumed");
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = "big" + std::to_string(round) + ".bin";
    const fs::path source = work_ / name;
    write_random_file(source, 12 * kMiB + round, 300 + round);
    // The proxy cuts the connection some chunks in: nothing is
    // acknowledged, and the copy must hold nothing under the final name.
    RunResult cut = send_cut_after(source, "resumed", (3 + 3 * round) * kMiB);
    ASSERT_NE(cut.exit_code, 0) << "the proxy did not cut " << name;
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the cut upload of " + name));
    // The next run resumes from the server's partial data.
    RunResult resumed = run({bin("ftsend"), "-v", source.string(), remote("resumed/")});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_NE(resumed.out.find("resumed "), std::string::npos) << resumed.out << resumed.err;
    expected_.acknowledge_directory("resumed");
    expected_.acknowledge_file("resumed/" + name, source);
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the resumed OK of " + name));
  }
}

TEST_F(CrashTest, AnOverwriteKeepsTheOldContentUntilItsOkAndTheNewOneAfter) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path()));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(start_server());
  // Sizes that shrink and grow: a replace that lost its sync would show
  // an empty or short file under the name.
  const std::uint64_t sizes[kRounds + 1] = {300'000, 2 * kMiB + 5, 1000, 1536 * 1024};
  for (int version = 0; version <= kRounds; ++version) {
    const std::string label = "version " + std::to_string(version);
    const fs::path source = work_ / ("v" + std::to_string(version)) / "doc.bin";
    fs::create_directories(source.parent_path());
    write_random_file(source, sizes[version], 500 + version);
    if (version > 0) {
      // Cut half-way: the old content stays, whole, under the name.
      RunResult cut = send_cut_after(source, "over", sizes[version] / 2);
      ASSERT_NE(cut.exit_code, 0) << "the proxy did not cut " << label;
      ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the cut " + label));
    }
    RunResult sent = run({bin("ftsend"), source.string(), remote("over/")});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    expected_.acknowledge_directory("over");
    expected_.acknowledge_file("over/doc.bin", source);
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the OK of " + label));
  }
}

TEST_F(CrashTest, DirectoriesAndLinksOfATreeSurviveAPowerCutAfterItsOk) {
  ASSERT_NO_FATAL_FAILURE(mount_under_test(root_.path()));
  if (IsSkipped()) return;
  ASSERT_NO_FATAL_FAILURE(start_server());
  for (int round = 0; round < kRounds; ++round) {
    const std::string top = "links" + std::to_string(round);
    const fs::path src = work_ / top;
    // Empty directories (one nested three deep), links to a file and to
    // directories, a file.
    for (const char* dir : {"a/empty", "e/f/g"}) fs::create_directories(src / dir);
    write_random_file(src / "a" / "x", 4000 + round, 700 + round);
    const std::pair<const char*, const char*> links[] = {
        {"l1", "a/x"}, {"a/l2", "../e"}, {"l3", "a"}, {"e/f/l4", "../../a/x"}};
    for (const auto& [link, target] : links) fs::create_symlink(target, src / link);
    RunResult sent = run(
        {bin("ftsend"), "-r", "--links", src.string(), remote("tree/r" + std::to_string(round))});
    ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
    const std::string base = "tree/r" + std::to_string(round) + "/" + top;
    for (const char* dir : {"", "/a", "/a/empty", "/e", "/e/f", "/e/f/g"}) {
      expected_.acknowledge_directory(base + dir);
    }
    for (const auto& [link, target] : links)
      expected_.acknowledge_symlink(base + "/" + link, target);
    expected_.acknowledge_file(base + "/a/x", src / "a" / "x");
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after ftsend -r --links " + top));

    // In a tree, a later fsync of anything commits ext4's journal and with
    // it every name made before; alone, a MKDIR or a SYMLINK must be synced
    // by its own request.
    const std::string alone = "alone" + std::to_string(round);
    fs::create_directories(work_ / alone);
    RunResult made = run({bin("ftsend"), "-r", (work_ / alone).string(), remote(base)});
    ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
    expected_.acknowledge_directory(base + "/" + alone);
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the MKDIR of " + alone));
    const fs::path only_link = work_ / ("only-link" + std::to_string(round));
    fs::create_directories(only_link);
    fs::create_symlink("a/x", only_link / "solo");
    RunResult linked =
        run({bin("ftsend"), "-r", "--links", only_link.string() + "/", remote(base)});
    ASSERT_EQ(linked.exit_code, 0) << linked.out << linked.err;
    expected_.acknowledge_symlink(base + "/solo", "a/x");
    ASSERT_NO_FATAL_FAILURE(expect_survives({server_.pid()}, "after the SYMLINK of solo"));
  }
}

// ftget commits on the client's side: the destination is on the file
// system under test, the server's root is not.
TEST_F(CrashTest, FtgetCommitsSurviveAPowerCutRightAfterEachFile) {
  const fs::path local = work_ / "local";
  ASSERT_NO_FATAL_FAILURE(mount_under_test(local));
  if (IsSkipped()) return;
  const fs::path one = root_.path() / "one.bin";
  write_random_file(one, 3 * kMiB + 1, 900);
  const TreeFiles tree = make_tree(root_.path() / "t", 3, 12, 2 * kMiB, 1000);
  fs::create_directories(root_.path() / "t" / "empty");
  fs::create_directories(root_.path() / "only-link");
  fs::create_symlink("big.bin", root_.path() / "only-link" / "solo");
  ASSERT_NO_FATAL_FAILURE(start_server());
  for (int round = 0; round < kRounds; ++round) {
    const fs::path dest = local / ("r" + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(make_durable_directory(dest));
    expected_.acknowledge_directory(name_under_test(dest));
    RunResult got = run({bin("ftget"), remote("one.bin"), dest.string()});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    expected_.acknowledge_file(name_under_test(dest / "one.bin"), one);
    ASSERT_NO_FATAL_FAILURE(expect_survives({}, "after ftget of one.bin"));

    const std::string base = name_under_test(dest);
    for (const fs::path& file : tree.files) {
      expected_.allow_file(base + "/" + file.lexically_relative(root_.path()).string(), file);
    }
    for (const fs::path& dir : tree.directories) {
      expected_.allow_directory(base + "/" + dir.lexically_relative(root_.path()).string());
    }
    expected_.allow_directory(base + "/t/empty");
    RunResult tree_got = run_tree_with_cuts(
        {bin("ftget"), "-r", "--json", remote("t"), dest.string()}, "received",
        [&](const fs::path& path) { return name_under_test(path); },
        [&](const std::string& name) {
          return root_.path() / fs::path(name).lexically_relative(base);
        },
        -1);
    ASSERT_EQ(tree_got.exit_code, 0) << tree_got.err;
    for (const fs::path& dir : tree.directories) {
      expected_.acknowledge_directory(base + "/" + dir.lexically_relative(root_.path()).string());
    }
    expected_.acknowledge_directory(base + "/t/empty");
    ASSERT_NO_FATAL_FAILURE(expect_survives({}, "after ftget -r t"));

    // Alone, with no file commit after them to sync the directory: an
    // empty directory, and a link.
    RunResult empty_got = run({bin("ftget"), "-r", remote("t/empty"), dest.string()});
    ASSERT_EQ(empty_got.exit_code, 0) << empty_got.err;
    expected_.acknowledge_directory(base + "/empty");
    ASSERT_NO_FATAL_FAILURE(expect_survives({}, "after ftget -r t/empty"));
    RunResult link_got =
        run({bin("ftget"), "-r", "--links", remote("only-link/"), (dest / "t").string()});
    ASSERT_EQ(link_got.exit_code, 0) << link_got.err;
    expected_.acknowledge_symlink(base + "/t/solo", "big.bin");
    ASSERT_NO_FATAL_FAILURE(expect_survives({}, "after ftget -r --links only-link/"));
  }
}

}  // namespace
}  // namespace ft::testing
