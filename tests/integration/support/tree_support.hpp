#pragma once
// Helpers for the directory-tree tests (ftsend -r, ftget -r, ftls -r): a
// sample tree with fixed modes and mtimes, a snapshot of a tree (names,
// types, modes, mtimes, hashes, link targets) to compare two trees, and the
// parsing of the clients' --json output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace ft::testing {

/// One entry of a tree as a test compares it.
struct SnapshotEntry {
  char type = '?';  // 'f' file, 'd' directory, 'l' symlink, 'o' other
  unsigned mode = 0;
  std::int64_t mtime_ns = 0;
  std::string content;  // file: its hash; symlink: its target
  friend bool operator==(const SnapshotEntry&, const SnapshotEntry&) = default;
};

inline std::ostream& operator<<(std::ostream& out, const SnapshotEntry& e) {
  return out << e.type << " mode=" << std::oct << e.mode << std::dec << " mtime=" << e.mtime_ns
             << " " << e.content;
}

using Snapshot = std::map<std::string, SnapshotEntry>;

inline std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

/// Every entry below `dir` (not following links). Link mtimes are left out
/// (0): whether a copy keeps them is not promised.
inline Snapshot snapshot(const fs::path& dir) {
  Snapshot result;
  for (const auto& name : tree_names(dir)) {
    struct stat st;
    const fs::path path = dir / name;
    if (::lstat(path.c_str(), &st) != 0) continue;
    SnapshotEntry e;
    e.mode = st.st_mode & 07777;
    e.mtime_ns = mtime_ns_of(st);
    if (S_ISREG(st.st_mode)) {
      e.type = 'f';
      e.content = file_hash(path);
    } else if (S_ISDIR(st.st_mode)) {
      e.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      e.type = 'l';
      e.content = fs::read_symlink(path).string();
      e.mode = 0;
      e.mtime_ns = 0;
    } else {
      e.type = 'o';
    }
    result[name] = e;
  }
  return result;
}

/// Sets the mtime of `path` (not following a link) to `seconds` + `nanos`.
inline void set_mtime(const fs::path& path, std::int64_t seconds, long nanos = 0) {
  struct timespec times[2] = {{seconds, nanos}, {seconds, nanos}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

/// A tree with nested and empty directories, unicode and space-containing
/// names, a 0-byte file, a larger file spanning several chunks, distinct
/// modes, and distinct mtimes on every file and directory (set last, so
/// that creating the content does not move them). Nothing in it is skipped
/// by a plain `ftsend -r`.
inline void make_sample_tree(const fs::path& root) {
  fs::create_directories(root / "nested/deeper/deepest");
  fs::create_directories(root / "empty dir");
  fs::create_directories(root / "ünïcødé ☃");
  fs::create_directories(root / "private");
  write_file(root / "plain.txt", "plain text\n");
  write_file(root / "zero", "");
  write_file(root / "with space.txt", "a name with a space");
  write_file(root / "ünïcødé ☃/日本語.txt", "unicode content");
  write_file(root / "nested/a", "a");
  write_file(root / "nested/deeper/b", "bb");
  write_random_file(root / "nested/deeper/deepest/big.bin", 3 * 1024 * 1024 + 17, 7);
  write_file(root / "private/secret", "secret");
  write_file(root / "script.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(root / "script.sh", static_cast<fs::perms>(0755));
  fs::permissions(root / "private/secret", static_cast<fs::perms>(0600));
  fs::permissions(root / "private", static_cast<fs::perms>(0700));
  fs::permissions(root / "empty dir", static_cast<fs::perms>(0750));
  // Files first, then directories deepest first: distinct, whole-second and
  // sub-second mtimes.
  std::int64_t when = 1500000000;
  for (const char* file :
       {"plain.txt", "zero", "with space.txt", "ünïcødé ☃/日本語.txt", "nested/a",
        "nested/deeper/b", "nested/deeper/deepest/big.bin", "private/secret", "script.sh"}) {
    set_mtime(root / file, when += 1000, 123456789);
  }
  for (const char* dir :
       {"nested/deeper/deepest", "nested/deeper", "nested", "empty dir", "ünïcødé ☃", "private"}) {
    set_mtime(root / dir, when += 1000, 987654321);
  }
}

/// Each line of `out` parsed as one JSON object; a line that is not one
/// fails the test.
inline std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(parsed.is_object()) << "not an object: " << line;
    if (!parsed.is_discarded()) lines.push_back(parsed);
  }
  return lines;
}

/// The summary object (the last line, event "summary") of --json output;
/// an empty object when there is none.
inline nlohmann::json json_summary(const std::string& out) {
  auto lines = json_lines(out);
  if (lines.empty() || lines.back().value("event", std::string()) != "summary") {
    ADD_FAILURE() << "no summary line at the end of:\n" << out;
    return nlohmann::json::object();
  }
  return lines.back();
}

/// The paths of the events `event` ("sent", "skipped", ...) in --json output,
/// relative to `base` (the clients print local paths as given).
inline std::vector<std::string> json_paths(const std::string& out, const std::string& event,
                                           const fs::path& base) {
  std::vector<std::string> paths;
  for (const auto& line : json_lines(out)) {
    if (line.value("event", std::string()) != event) continue;
    const std::string path = line.value("path", std::string());
    paths.push_back(fs::path(path).lexically_relative(base).string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

/// Names below `dir` (recursively, relative), not following or resolving
/// symbolic links: a link that leads outside shows as its own name.
inline std::vector<std::string> lexical_tree_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().lexically_relative(dir).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// True when `text` holds an ESC or another C0 control byte other than
/// newline and tab: what a terminal would interpret.
inline bool has_raw_control(const std::string& text) {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

}  // namespace ft::testing
