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
  bool rename = false;  // puts a name in place: a rename, or a link
  bool link = false;    // a linkat of an unnamed file (from: its #INODE)
  std::string call;     // syncfs, fsync, fdatasync, renameat, renameat2, linkat
  std::string path;     // the synced descriptor's path, or the new name's directory
  std::string from, to;
};

/// The calls of an `strace -f -y -e trace=syncfs,fsync,fdatasync,renameat,
/// renameat2,linkat -o FILE` log, per thread, in the order each thread made them
/// (a call split by "<unfinished ...>" counts where it started).
inline std::map<int, std::vector<TracedCall>> read_sync_trace(const std::string& log) {
  static const std::regex call_re(R"(^(\d+) +(syncfs|fsync|fdatasync|renameat2?|linkat)\((.*)$)");
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
    call.link = call.call == "linkat";
    call.rename = call.link || call.call.rfind("rename", 0) == 0;
    // The directory is the last descriptor: a link's first one (with
    // AT_EMPTY_PATH) is the file's, which -y shows as DIR/#INODE.
    std::string file_path;
    for (std::sregex_iterator it(args.begin(), args.end(), fd_re), end; it != end; ++it) {
      if (file_path.empty()) file_path = (*it)[1];
      call.path = (*it)[1];
      if (!call.link) break;
    }
    if (call.rename) {
      std::vector<std::string> names;
      for (std::sregex_iterator it(args.begin(), args.end(), string_re), end; it != end; ++it) {
        names.push_back((*it)[1]);
      }
      if (names.size() < 2) continue;
      // A link names the file by its descriptor (from is then its #INODE
      // as -y shows it, which its fsyncs show too) or by /proc/self/fd/N
      // (from is empty: not traceable to its syncs).
      call.from = names[0];
      if (call.link) {
        call.from = names[0].empty() && file_path != call.path
                        ? file_path.substr(file_path.rfind('/') + 1)
                        : "";
      }
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
