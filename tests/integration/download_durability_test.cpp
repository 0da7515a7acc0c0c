// ftget's group commit (docs/client.md, "Durability of downloads"), seen in
// its own system calls (strace -y): every downloaded file is synced (by a
// syncfs, or an fsync of its partial) after its last write and before it is
// renamed into place, its directory is fsynced after the rename and before
// the file is reported received, and the syncs are shared (far fewer
// syncfs calls than files). The syncs and renames run on ftget's commit
// thread (strace -f) while the next files arrive: writes of the next files
// fall inside a commit, and a connection that ends during one still lands
// and reports its files, which the retry does not fetch again.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/resume_fixture.hpp"
#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

const char* const kStrace = "/usr/bin/strace";

struct Line {
  std::string call;  // syncfs, fsync, renameat, linkat, pwrite64, write
  std::string text;
};

// The calls of an `strace -f -y -s 4096 -o LOG` log, in the order they
// returned. ftget commits on a thread of its own (CommitWorker), so every
// line starts with the thread's id, and a call that another thread's call
// interrupted in the log comes in two lines ("<unfinished ...>", then
// "<... NAME resumed>"), joined here at the place of the second.
std::vector<Line> read_trace(const fs::path& log) {
  std::vector<Line> lines;
  std::map<std::string, std::string> unfinished;  // by thread id
  std::istringstream in(read_file(log));
  for (std::string text; std::getline(in, text);) {
    std::string thread;
    if (const auto space = text.find(' ');
        space != std::string::npos && space > 0 && text.find_first_not_of("0123456789") == space) {
      thread = text.substr(0, space);
      text = text.substr(text.find_first_not_of(' ', space));
    }
    if (const auto cut = text.find(" <unfinished ...>"); cut != std::string::npos) {
      unfinished[thread] = text.substr(0, cut);
      continue;
    }
    if (text.rfind("<... ", 0) == 0) {
      const auto resumed = text.find(" resumed>");
      auto started = unfinished.find(thread);
      if (resumed == std::string::npos || started == unfinished.end()) continue;
      text = started->second + text.substr(resumed + 9);
      unfinished.erase(started);
    }
    const auto paren = text.find('(');
    if (paren == std::string::npos) continue;
    lines.push_back(Line{text.substr(0, paren), text});
  }
  return lines;
}

// One line of an `strace -f` log: the thread's id and the call's text.
bool split_traced(const std::string& text, std::string& thread, std::string& call) {
  const auto space = text.find(' ');
  if (space == std::string::npos || space == 0) return false;
  thread = text.substr(0, space);
  call = text.substr(text.find_first_not_of(' ', space));
  return true;
}

// A batch's seal of a file (its mode or mtime), and the step that puts a
// file into place: a rename of a partial file, or the link of one that had
// no name (in a directory ftget made).
bool seals(const std::string& call) {
  return call.rfind("fchmod(", 0) == 0 || call.rfind("utimensat(", 0) == 0;
}
bool places(const std::string& call) {
  return call.rfind("renameat", 0) == 0 || call.rfind("linkat(", 0) == 0;
}

// The system calls these counts need, for strace's -e trace=.
constexpr const char* kCommitCalls =
    "trace=syncfs,pwrite64,fchmod,utimensat,renameat,renameat2,linkat";

// Counts, in an `strace -f` log of ftget, the writes (pwrite64) that a
// thread made while another thread was committing a batch: from the batch's
// first seal to its first placing of a file. (An injected delay holds the
// thread after its syncfs is logged, before its renames or links.)
std::size_t writes_during_commits(const fs::path& log) {
  std::set<std::string> committing;  // threads inside a batch
  std::size_t count = 0;
  std::istringstream in(read_file(log));
  std::string thread, call;
  for (std::string text; std::getline(in, text);) {
    if (!split_traced(text, thread, call)) continue;
    if (seals(call)) {
      committing.insert(thread);
    } else if (places(call)) {
      committing.erase(thread);
    } else if (call.rfind("pwrite64(", 0) == 0) {
      count += std::any_of(committing.begin(), committing.end(),
                           [&](const std::string& other) { return other != thread; });
    }
  }
  return count;
}

// The writes (pwrite64) that other threads made during the first commit of
// an `strace -f` log of ftget: from its first seal to its first placing of
// a file, as writes_during_commits() counts them.
std::size_t writes_during_first_commit(const fs::path& log) {
  std::string committer;  // the thread inside the first batch
  std::size_t count = 0;
  std::istringstream in(read_file(log));
  std::string thread, call;
  for (std::string text; std::getline(in, text);) {
    if (!split_traced(text, thread, call)) continue;
    if (committer.empty() && seals(call)) {
      committer = thread;
    } else if (thread == committer && places(call)) {
      break;
    } else if (!committer.empty() && thread != committer && call.rfind("pwrite64(", 0) == 0) {
      ++count;
    }
  }
  return count;
}

// `count` files of a few KiB under `top`, in three directories; their
// paths relative to `top`, sorted.
std::vector<std::string> make_small_tree(const fs::path& top, int count) {
  return write_small_tree(top, count, 900);
}

class DownloadDurability : public ServerFixture {
 protected:
  // ftget -r of the server's many/ into back/, under strace logging
  // kCommitCalls to `log`, with strace's `inject` (a syncfs delay).
  void get_traced(const fs::path& back, const fs::path& log, const std::string& inject) {
    RunResult get = run({"/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", kStrace,
                         "-f", "--seccomp-bpf", "-e", kCommitCalls, "-e", inject, "-o",
                         log.string(), bin("ftget"), "-q", "-r", remote("many"), back.string()});
    ASSERT_EQ(get.exit_code, 0) << get.err;
  }
  // The tree arrived whole: every name (and the three directories), and
  // the bytes of a sample of files.
  void expect_fetched(const std::vector<std::string>& names, const fs::path& back) {
    EXPECT_EQ(tree_names(back / "many").size(), names.size() + 3);
    for (std::size_t i = 0; i < names.size(); i += 97) {
      EXPECT_EQ(file_hash(back / "many" / names[i]), file_hash(root_.path() / "many" / names[i]))
          << names[i];
    }
  }
};

TEST_F(DownloadDurability, EachFileIsSyncedBeforeItsRenameAndItsDirectoryBeforeItIsReported) {
  if (!fs::exists(kStrace)) GTEST_SKIP() << "strace is not installed (FT_TEST_PACKAGES)";
  constexpr int kFiles = 60;
  std::vector<std::string> names;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = (i % 2 ? "sub/g" : "f") + std::to_string(i) + ".bin";
    fs::create_directories(root_.path() / "tree" / "sub");
    write_random_file(root_.path() / "tree" / name, 700 + 13 * i, 40 + i);
    names.push_back(name);
  }
  start_server();
  const fs::path back = work_ / "back";
  const fs::path log = work_ / "ftget.strace";
  // LeakSanitizer cannot run under a tracer: a sanitized ftget would fail.
  RunResult get =
      run({"/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", kStrace, "-f", "-y",
           "-s", "4096", "-e", "trace=syncfs,fsync,renameat,renameat2,linkat,pwrite64,write", "-o",
           log.string(), bin("ftget"), "--json", "-r", remote("tree"), back.string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  const std::vector<Line> trace = read_trace(log);
  ASSERT_FALSE(trace.empty());

  std::size_t syncfs_calls = 0;
  for (const Line& line : trace) syncfs_calls += line.call == "syncfs";
  EXPECT_GE(syncfs_calls, 1u);
  EXPECT_LT(syncfs_calls, static_cast<std::size_t>(kFiles) / 4) << "the syncs are not shared";

  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const fs::path final_path = back / "tree" / name;
    EXPECT_EQ(file_hash(final_path), file_hash(root_.path() / "tree" / name));
    const std::string dir = fs::canonical(final_path.parent_path()).string();
    const std::string base = final_path.filename().string();
    // A file in a directory ftget made has no name until it is linked into
    // place (LandingFile::open); strace -y shows its descriptor as
    // DIR/#INODE, which its link gives away. Elsewhere it is a partial file
    // renamed into place.
    std::string file = dir + "/.ft-part." + base + ">";
    bool linked = false;
    for (const Line& line : trace) {
      if (line.call != "linkat" || line.text.find(", \"" + base + "\", ") == std::string::npos ||
          line.text.find(" = 0") == std::string::npos) {
        continue;
      }
      const auto hash = line.text.find("/#");
      const auto end = line.text.find('>', hash);
      if (hash == std::string::npos || end == std::string::npos) continue;
      file = dir + line.text.substr(hash, end + 1 - hash);
      linked = true;
    }
    // Where each step of this file happened in the trace.
    long last_write = -1, rename = -1, reported = -1;
    for (std::size_t i = 0; i < trace.size(); ++i) {
      const Line& line = trace[i];
      if (line.call == "pwrite64" && line.text.find(file) != std::string::npos) {
        last_write = static_cast<long>(i);
      } else if (line.call.rfind("renameat", 0) == 0 &&
                 line.text.find("\".ft-part." + base + "\"") != std::string::npos &&
                 line.text.find(" = 0") != std::string::npos) {
        rename = static_cast<long>(i);
      } else if (linked && line.call == "linkat" && line.text.find(file) != std::string::npos &&
                 line.text.find(" = 0") != std::string::npos) {
        rename = static_cast<long>(i);
      } else if (line.call == "write" && line.text.find("received") != std::string::npos &&
                 line.text.find("/" + base + "\\\"") != std::string::npos &&
                 line.text.find(name) != std::string::npos) {
        reported = static_cast<long>(i);
      }
    }
    ASSERT_GE(last_write, 0);
    ASSERT_GT(rename, last_write);
    ASSERT_GT(reported, rename);
    bool synced = false;
    for (long i = last_write + 1; i < rename && !synced; ++i) {
      synced = trace[i].call == "syncfs" ||
               (trace[i].call == "fsync" && trace[i].text.find(file) != std::string::npos);
    }
    EXPECT_TRUE(synced) << "renamed before a sync made its data durable";
    // A link changed the file's inode as well: synced again before the
    // directory (whose sync need not write it).
    bool inode_synced = !linked;
    bool directory_synced = false;
    for (long i = rename + 1; i < reported && !directory_synced; ++i) {
      directory_synced =
          trace[i].call == "fsync" && trace[i].text.find("<" + dir + ">") != std::string::npos;
      if (!directory_synced &&
          (trace[i].call == "syncfs" ||
           (trace[i].call == "fsync" && trace[i].text.find(file) != std::string::npos))) {
        inode_synced = true;
      }
    }
    EXPECT_TRUE(inode_synced) << "linked, then its directory synced before its inode";
    EXPECT_TRUE(directory_synced) << "reported before its directory was synced";
  }
}

// Every download in flight holds its partial file open until its group is
// committed. Under a descriptor limit of 256 (soft and hard: ftget cannot
// raise it) the window shrinks to fit instead of failing files with "Too
// many open files", as a limit of 1024 did with 1,024 files in flight.
TEST_F(DownloadDurability, AFewDescriptorsAreEnoughForManyFiles) {
  constexpr int kFiles = 600;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "d" + std::to_string(i % 3) + "/f" + std::to_string(i);
    fs::create_directories(root_.path() / "many" / ("d" + std::to_string(i % 3)));
    write_random_file(root_.path() / "many" / name, 100 + i, 7 + i);
  }
  start_server();
  const fs::path back = work_ / "back";
  RunResult get = run({"/bin/sh", "-c", "ulimit -Sn 256 && ulimit -Hn 256 && exec \"$@\"", "sh",
                       bin("ftget"), "-q", "-r", remote("many"), back.string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  for (int i = 0; i < kFiles; i += 37) {
    const std::string name = "d" + std::to_string(i % 3) + "/f" + std::to_string(i);
    EXPECT_EQ(file_hash(back / "many" / name), file_hash(root_.path() / "many" / name)) << name;
  }
}

// A batch of verified files is sealed, synced and renamed on ftget's commit
// thread while its transfer thread goes on receiving and writing the next
// files: with each syncfs made to last 200 ms (strace's delay injection),
// writes of other files must fall between a batch's first seal and its
// first rename or link. Committing on the transfer's thread, as before the
// CommitWorker, never overlaps them. (Once the files waiting for their
// commit hold their share of the descriptors, the transfer waits too.)
TEST_F(DownloadDurability, TheNextFilesAreWrittenWhileABatchIsSynced) {
  if (!fs::exists(kStrace)) GTEST_SKIP() << "strace is not installed (FT_TEST_PACKAGES)";
  const std::vector<std::string> names = make_small_tree(root_.path() / "many", 1500);
  start_server();
  const fs::path back = work_ / "back";
  const fs::path log = work_ / "ftget.strace";
  ASSERT_NO_FATAL_FAILURE(get_traced(back, log, "inject=syncfs:delay_exit=200ms"));
  EXPECT_GT(writes_during_commits(log), 0u) << "no file was written while a batch was committed:\n"
                                            << read_file(log).substr(0, 4000);
  expect_fetched(names, back);
}

// Files waiting for their commit do not hold up the window of requests
// (GetPipeline::has_room): with the first syncfs held 4 s (as a slow disk
// may), ftget receives and writes more files during that one commit than
// the server lets a connection have requests in flight (1,024). When the
// waiting files counted in the window, at most the window less the batch
// being committed could be written meanwhile, and the transfer stopped.
TEST_F(DownloadDurability, ReceivingGoesOnWhileASyncIsHeldPastTheWindow) {
  if (!fs::exists(kStrace)) GTEST_SKIP() << "strace is not installed (FT_TEST_PACKAGES)";
  constexpr int kFiles = 2500;
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max / 2 < kFiles + 64) {
    GTEST_SKIP() << "a hard limit of " << limit.rlim_max
                 << " descriptors keeps these files waiting";
  }
  const std::vector<std::string> names = make_small_tree(root_.path() / "many", kFiles);
  start_server();
  const fs::path back = work_ / "back";
  const fs::path log = work_ / "ftget.strace";
  ASSERT_NO_FATAL_FAILURE(get_traced(back, log, "inject=syncfs:delay_exit=4s:when=1"));
  EXPECT_GT(writes_during_first_commit(log), 1024u)
      << "the transfer stopped while the first batch was synced:\n"
      << read_file(log).substr(0, 4000);
  expect_fetched(names, back);
}

// A directory whose content is all done is fsynced (with its mode and
// mtime, post-order) on the commit thread, with the next group of files: on
// a disk each such fsync takes about 10 ms, and on the transfer's thread
// (the one that writes the files) they stopped the transfer. Every
// directory of the tree is still fsynced, and LOCAL_DIR after the top
// directory this run created.
TEST_F(DownloadDurability, DirectoriesAreSyncedOnTheCommitThread) {
  if (!fs::exists(kStrace)) GTEST_SKIP() << "strace is not installed (FT_TEST_PACKAGES)";
  make_small_tree(root_.path() / "many", 300);
  start_server();
  const fs::path back = work_ / "back";
  fs::create_directories(back);  // not created (and synced) by ftget itself
  const fs::path log = work_ / "ftget.strace";
  RunResult get = run({"/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1", kStrace,
                       "-f", "-y", "--seccomp-bpf", "-e", "trace=fsync,pwrite64", "-o",
                       log.string(), bin("ftget"), "-q", "-r", remote("many"), back.string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  const std::string top = fs::canonical(back).string();
  const std::vector<std::string> directories = {top, top + "/many", top + "/many/d0",
                                                top + "/many/d1", top + "/many/d2"};
  std::string transfer_thread;  // the one that writes the files
  std::map<std::string, int> synced_by_transfer, synced_by_others;
  std::istringstream in(read_file(log));
  for (std::string text; std::getline(in, text);) {
    const auto space = text.find(' ');
    if (space == std::string::npos || space == 0) continue;
    const std::string thread = text.substr(0, space);
    const std::string call = text.substr(text.find_first_not_of(' ', space));
    if (call.rfind("pwrite64(", 0) == 0 && transfer_thread.empty()) transfer_thread = thread;
    if (call.rfind("fsync(", 0) != 0) continue;
    for (const std::string& dir : directories) {
      if (call.find("<" + dir + ">") == std::string::npos) continue;
      ++(thread == transfer_thread ? synced_by_transfer : synced_by_others)[dir];
    }
  }
  ASSERT_FALSE(transfer_thread.empty()) << read_file(log).substr(0, 4000);
  for (const std::string& dir : directories) {
    EXPECT_EQ(synced_by_transfer[dir], 0) << dir << " was fsynced on the transfer's thread";
    EXPECT_GE(synced_by_others[dir], 1) << dir << " was never fsynced";
  }
}

// The connection is cut while a batch is committed (its first syncfs made
// to last 2 s; the cut comes about 500 files in, after the first batch of
// at most 256 files was handed over, before the window of 1,024 is full): the batch still ends, its
// files are in place and reported, and the retry fetches only the others. Every file is reported
// received exactly once, and the tree is whole.
class DownloadCutDuringCommit : public ResumeTest {};

TEST_F(DownloadCutDuringCommit, ReportsTheBatchsFilesOnceAndTheRetryFetchesTheRest) {
  if (!fs::exists(kStrace)) GTEST_SKIP() << "strace is not installed (FT_TEST_PACKAGES)";
  constexpr std::uint64_t kCut = 2 * kMiB;
  const std::vector<std::string> names = make_small_tree(root_.path() / "many", 1500);
  const fs::path back = work_ / "back";
  const fs::path log = work_ / "ftget.strace";
  ProxiedRun proxied = run_through_proxy(
      {"--cut-downstream-after", std::to_string(kCut)}, [&](const std::string& address) {
        return std::vector<std::string>{"/usr/bin/env",
                                        "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1",
                                        kStrace,
                                        "-f",
                                        "--seccomp-bpf",
                                        "-e",
                                        "trace=syncfs,renameat,renameat2,linkat,connect",
                                        "-e",
                                        "inject=syncfs:delay_exit=2s:when=1",
                                        "-o",
                                        log.string(),
                                        bin("ftget"),
                                        "--json",
                                        "-r",
                                        address + "/many",
                                        back.string()};
      });
  ASSERT_EQ(proxied.result.exit_code, 0) << proxied.result.err;
  EXPECT_NE(proxied.result.err.find("ftget: connection lost ("), std::string::npos)
      << proxied.result.err;
  EXPECT_EQ(proxied.traffic(1).downstream, kCut) << proxied.proxy_err;
  std::vector<std::string> expected;
  for (const std::string& name : names) expected.push_back("many/" + name);
  EXPECT_EQ(json_paths(proxied.result.out, "received", back), expected)
      << "each file must be reported received once";
  EXPECT_EQ(tree_names(back / "many").size(), names.size() + 3) << "stray or missing files";
  // The batch's files were put into place by the first connection's
  // commit (before the retry's connect), once: fetched again, a file would
  // be placed twice; left to the retry, none would be before its connect.
  // In the directories it made the first connection links files that had
  // no name; the retry finds them made and renames partial files.
  std::map<std::string, int> renames;
  std::size_t connects = 0, renamed_by_the_first = 0;
  std::string failed;  // the first rename into place that failed
  for (const Line& line : read_trace(log)) {
    if (line.call == "connect") ++connects;
    const auto to = line.text.rfind(", \"");
    const bool places = line.call.rfind("renameat", 0) == 0 || line.call == "linkat";
    if (!places || to == std::string::npos) continue;
    const std::string name = line.text.substr(to + 3, line.text.find('"', to + 3) - to - 3);
    if (name.rfind(".ft-part", 0) == 0) continue;  // a partial's record
    if (line.text.find(" = 0") == std::string::npos) {
      if (failed.empty()) failed = line.text;
      continue;
    }
    ++renames[name];
    renamed_by_the_first += connects == 1;
  }
  EXPECT_EQ(failed, "") << "a rename into place failed";
  EXPECT_GT(renamed_by_the_first, 0u) << "no batch was committed while the connection ended";
  for (const std::string& name : names) {
    EXPECT_EQ(renames[fs::path(name).filename().string()], 1) << name;
  }
  for (std::size_t i = 0; i < names.size(); i += 97) {
    EXPECT_EQ(file_hash(back / "many" / names[i]), file_hash(root_.path() / "many" / names[i]))
        << names[i];
  }
}

}  // namespace
}  // namespace ft::testing
