#pragma once
// Support for the durability tests: the reading of an `strace -f -y` log of
// ftserve's sync and rename calls, to check what each group commit synced
// before it renamed a file into place (the file systems they mount are
// loop_mount.hpp's).
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace ft::testing {

/// One traced call of a pool thread: a sync (syncfs, fsync, fdatasync of
/// the descriptor's path) or a rename within one directory.
struct TracedCall {
  bool rename = false;
  std::string call;  // syncfs, fsync, fdatasync, renameat, renameat2
  std::string path;  // the synced descriptor's path, or the rename's directory
  std::string from, to;
};

/// The calls of an `strace -f -y -e trace=syncfs,fsync,fdatasync,renameat,
/// renameat2 -o FILE` log, per thread, in the order each thread made them
/// (a call split by "<unfinished ...>" counts where it started).
inline std::map<int, std::vector<TracedCall>> read_sync_trace(const std::string& log) {
  static const std::regex call_re(R"(^(\d+) +(syncfs|fsync|fdatasync|renameat2?)\((.*)$)");
  static const std::regex fd_re(R"(\d+<([^>]*)>)");
  static const std::regex string_re(R"re("([^"]*)")re");
  std::map<int, std::vector<TracedCall>> threads;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, call_re)) continue;
    TracedCall call;
    call.call = m[2];
    const std::string args = m[3];
    call.rename = call.call.rfind("rename", 0) == 0;
    std::smatch fd;
    if (std::regex_search(args, fd, fd_re)) call.path = fd[1];
    if (call.rename) {
      std::vector<std::string> names;
      for (std::sregex_iterator it(args.begin(), args.end(), string_re), end; it != end; ++it) {
        names.push_back((*it)[1]);
      }
      if (names.size() < 2) continue;
      call.from = names[0];
      call.to = names[1];
      // A failed rename commits nothing (its result is on the same line
      // unless the call was split; a split one is counted).
      if (line.find(" = -1 ") != std::string::npos) continue;
    }
    threads[std::stoi(m[1])].push_back(std::move(call));
  }
  return threads;
}

/// Whether `path` lies on the file system mounted at `mount` (a canonical
/// path): the mount point itself or below it.
inline bool on_mount(const std::string& path, const std::string& mount) {
  return path == mount || path.rfind(mount + "/", 0) == 0;
}

}  // namespace ft::testing
