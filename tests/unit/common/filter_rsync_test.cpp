// ft's filter choice against rsync's: the same tree, the same rules, and
// `rsync -r --dry-run --out-format=%n` must select the same names as a
// walk with FilterSet (an excluded directory is not entered).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/rules/filter_rules.hpp"

namespace ft {
namespace {

namespace fs = std::filesystem;

struct RuleList {
  std::vector<std::string> rsync_args;  // --exclude=..., --include=..., --filter=...
  std::string files_from;               // contents of a --files-from list, if any
  std::string ignore_file;              // contents of a top-level .ftignore, if any
  std::string nested_ignore;            // contents of src/.ftignore, if any
};

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What the filter set selects: directories as "name/", like rsync prints.
void walk(const fs::path& root, const std::string& rel, const FilterSet& set,
          std::shared_ptr<const FilterLayer> layers, std::set<std::string>& out) {
  const fs::path dir = rel.empty() ? root : root / rel;
  if (set.per_directory && fs::exists(dir / kIgnoreFileName)) {
    std::string why;
    auto rules = parse_filter_file(read_text(dir / kIgnoreFileName), why);
    ASSERT_TRUE(rules) << why;
    auto layer = std::make_shared<FilterLayer>();
    layer->parent = layers;
    layer->directory = rel;
    layer->rules = std::move(*rules);
    layers = layer;
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string path = rel.empty() ? name : rel + "/" + name;
    const bool is_dir = entry.is_directory();
    if (set.excluded(path, is_dir, layers.get())) continue;
    out.insert(is_dir ? path + "/" : path);
    if (is_dir) walk(root, path, set, layers, out);
  }
}

class FilterAgainstRsync : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("rsync --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "rsync not found";
    char pattern[] = "/tmp/ft-filter-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    top_ = pattern;
    src_ = top_ / "src";
    for (const char* file : {"a.txt",
                             "b.o",
                             "c.c",
                             "Makefile",
                             "foo",
                             "x1.log",
                             "x2.log",
                             "xa.log",
                             "notes[1].txt",
                             "src/main.c",
                             "src/main.o",
                             "src/lib/util.c",
                             "src/lib/util.h",
                             "src/lib/deep/x.o",
                             "src/lib/deep/keep.txt",
                             "build/out.bin",
                             "build/sub/y.c",
                             "docs/readme.md",
                             "docs/build/z.txt",
                             "sub/foo/bar",
                             "sub/foo.txt",
                             "cache/tmp1",
                             "cache/tmp2"}) {
      write(src_ / file, file);
    }
    fs::create_directories(src_ / "empty");
  }
  void TearDown() override {
    if (!top_.empty()) fs::remove_all(top_);
  }

  std::set<std::string> rsync_selects(const RuleList& list) {
    std::string command = "rsync -r --dry-run --out-format=%n";
    for (const std::string& arg : list.rsync_args) command += " " + quote(arg);
    if (!list.files_from.empty()) {
      write(top_ / "list", list.files_from);
      command += " --files-from=" + quote((top_ / "list").string());
    }
    command += " " + quote(src_.string() + "/") + " " + quote((top_ / "dst").string() + "/");
    std::set<std::string> names;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return names;
    char line[4096];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
      std::string name(line);
      while (!name.empty() && name.back() == '\n') name.pop_back();
      if (name == "./" || name.empty()) continue;
      names.insert(name);
    }
    EXPECT_EQ(::pclose(pipe), 0) << command;
    return names;
  }

  std::set<std::string> ft_selects(const RuleList& list) {
    FilterSet set;
    for (const std::string& arg : list.rsync_args) {
      std::string why;
      if (arg.starts_with("--filter=")) {
        set.per_directory = true;  // ": .ftignore", given first in every list
        continue;
      }
      const bool include = arg.starts_with("--include=");
      auto rule = parse_filter_rule(include ? FilterAction::kInclude : FilterAction::kExclude,
                                    arg.substr(arg.find('=') + 1), why);
      EXPECT_TRUE(rule) << why;
      if (rule) set.rules.push_back(*rule);
    }
    if (!list.files_from.empty()) {
      std::string why;
      set.files_from.emplace();
      EXPECT_TRUE(set.files_from->add_list(list.files_from, why)) << why;
    }
    std::set<std::string> names;
    walk(src_, "", set, nullptr, names);
    return names;
  }

  fs::path top_, src_;
};

TEST_F(FilterAgainstRsync, SameSelection) {
  const std::vector<RuleList> lists = {
      {{"--exclude=*.o"}, {}, {}, {}},
      {{"--exclude=build/"}, {}, {}, {}},
      {{"--exclude=/build"}, {}, {}, {}},
      {{"--include=*.c", "--include=*/", "--exclude=*"}, {}, {}, {}},
      {{"--exclude=src/lib"}, {}, {}, {}},
      {{"--exclude=lib/*.h"}, {}, {}, {}},
      {{"--exclude=src/**/*.o"}, {}, {}, {}},
      {{"--exclude=**/deep"}, {}, {}, {}},
      {{"--exclude=x?.log"}, {}, {}, {}},
      {{"--exclude=x[0-9].log"}, {}, {}, {}},
      {{"--exclude=x[!0-9].log", "--exclude=*.[ch]"}, {}, {}, {}},
      {{"--include=/src/", "--include=/src/*.c", "--exclude=*"}, {}, {}, {}},
      {{"--exclude=/docs/***"}, {}, {}, {}},
      {{"--exclude=foo/"}, {}, {}, {}},
      {{"--exclude=[[:upper:]]*", "--exclude=notes\\[1\\].txt"}, {}, {}, {}},
      {{"--include=keep.txt", "--exclude=*.txt", "--exclude=/cache/*"}, {}, {}, {}},
      {{"--exclude=*.o"}, "src/lib/util.c\ndocs/\nx1.log\n", {}, {}},
      {{"--filter=: .ftignore", "--exclude=*.log"},
       {},
       "+ x1.log\n- /build/\n- cache/\n",
       "- *.c\n+ /lib/deep/***\n- /lib/**\n"},
  };
  for (const RuleList& list : lists) {
    if (!list.ignore_file.empty()) write(src_ / ".ftignore", list.ignore_file);
    if (!list.nested_ignore.empty()) write(src_ / "src" / ".ftignore", list.nested_ignore);
    std::string args;
    for (const std::string& arg : list.rsync_args) args += arg + " ";
    EXPECT_EQ(ft_selects(list), rsync_selects(list)) << args << " files-from: " << list.files_from;
    fs::remove(src_ / ".ftignore");
    fs::remove(src_ / "src" / ".ftignore");
  }
}

}  // namespace
}  // namespace ft
