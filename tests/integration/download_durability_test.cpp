// ftget's group commit (docs/client.md, "Durability of downloads"), seen in
// its own system calls (strace -y): every downloaded file is synced (by a
// syncfs, or an fsync of its partial) after its last write and before it is
// renamed into place, its directory is fsynced after the rename and before
// the file is reported received, and the syncs are shared (far fewer
// syncfs calls than files). The syncs and renames run on ftget's commit
// thread (strace -f) while the next files arrive.
#include <sys/stat.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

const char* const kStrace = "/usr/bin/strace";

struct Line {
  std::string call;  // syncfs, fsync, renameat, pwrite64, write
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

class DownloadDurability : public ServerFixture {};

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
           "-s", "4096", "-e", "trace=syncfs,fsync,renameat,renameat2,pwrite64,write", "-o",
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
    const std::string partial = dir + "/.ft-part." + base + ">";
    // Where each step of this file happened in the trace.
    long last_write = -1, rename = -1, reported = -1;
    for (std::size_t i = 0; i < trace.size(); ++i) {
      const Line& line = trace[i];
      if (line.call == "pwrite64" && line.text.find(partial) != std::string::npos) {
        last_write = static_cast<long>(i);
      } else if (line.call.rfind("renameat", 0) == 0 &&
                 line.text.find("\".ft-part." + base + "\"") != std::string::npos &&
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
               (trace[i].call == "fsync" && trace[i].text.find(partial) != std::string::npos);
    }
    EXPECT_TRUE(synced) << "renamed before a sync made its data durable";
    bool directory_synced = false;
    for (long i = rename + 1; i < reported && !directory_synced; ++i) {
      directory_synced =
          trace[i].call == "fsync" && trace[i].text.find("<" + dir + ">") != std::string::npos;
    }
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

}  // namespace
}  // namespace ft::testing
