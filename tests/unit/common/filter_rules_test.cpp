// The filter rules (common/rules/filter_rules.hpp, wildmatch.hpp) against a
// table of rules, paths and the expected choice: every rule kind.
#include "common/rules/filter_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/rules/wildmatch.hpp"

namespace ft {
namespace {

struct Case {
  std::vector<std::string> rules;  // "+ PATTERN" or "- PATTERN"
  std::string path;
  bool is_directory;
  bool excluded;
};

FilterSet make_set(const std::vector<std::string>& lines) {
  FilterSet set;
  for (const std::string& line : lines) {
    std::string why;
    const auto action = line[0] == '+' ? FilterAction::kInclude : FilterAction::kExclude;
    auto rule = parse_filter_rule(action, line.substr(2), why);
    EXPECT_TRUE(rule) << line << ": " << why;
    if (rule) set.rules.push_back(*rule);
  }
  return set;
}

const std::vector<Case> kCases = {
    // No rule: everything is included.
    {{}, "a/b.o", false, false},
    // A name pattern matches the last component at any depth.
    {{"- *.o"}, "b.o", false, true},
    {{"- *.o"}, "a/b/c.o", false, true},
    {{"- *.o"}, "a.o/c", false, false},
    {{"- *.o"}, "a.c", false, false},
    // '*' does not cross '/', '**' does.
    {{"- /a/*"}, "a/b", false, true},
    {{"- /a/*"}, "a/b/c", false, false},
    {{"- /a/**"}, "a/b/c", false, true},
    {{"- /a/**"}, "a", true, false},
    {{"- a/**/z"}, "x/a/b/c/z", false, true},
    {{"- a/**/z"}, "a/z", false, false},
    // Anchored: only at the root.
    {{"- /build"}, "build", true, true},
    {{"- /build"}, "src/build", true, false},
    // A pattern with a '/' matches a tail of whole components.
    {{"- src/*.c"}, "src/a.c", false, true},
    {{"- src/*.c"}, "x/src/a.c", false, true},
    {{"- src/*.c"}, "xsrc/a.c", false, false},
    {{"- src/*.c"}, "src/sub/a.c", false, false},
    // Directory-only patterns.
    {{"- cache/"}, "cache", true, true},
    {{"- cache/"}, "cache", false, false},
    {{"- cache/"}, "a/cache", true, true},
    // "dir/***": the directory and everything below.
    {{"- /docs/***"}, "docs", true, true},
    {{"- /docs/***"}, "docs/a/b", false, true},
    {{"- /docs/***"}, "docsx", true, false},
    // '?' is one character, never '/'.
    {{"- x?.log"}, "x1.log", false, true},
    {{"- x?.log"}, "x12.log", false, false},
    {{"- /a?b"}, "a/b", false, false},
    // Character classes: sets, ranges, negation with '!' or '^', POSIX.
    {{"- x[0-9].log"}, "x5.log", false, true},
    {{"- x[0-9].log"}, "xa.log", false, false},
    {{"- x[!0-9].log"}, "xa.log", false, true},
    {{"- x[^0-9].log"}, "x5.log", false, false},
    {{"- *.[ch]"}, "u.h", false, true},
    {{"- *.[ch]"}, "u.o", false, false},
    {{"- [[:upper:]]*"}, "Makefile", false, true},
    {{"- [[:upper:]]*"}, "makefile", false, false},
    {{"- []]x"}, "]x", false, true},
    {{"- /a[/]b"}, "a/b", false, false},
    // Backslash quotes a wildcard.
    {{"- notes\\[1\\].txt"}, "notes[1].txt", false, true},
    {{"- notes\\[1\\].txt"}, "notes1.txt", false, false},
    {{"- a\\*"}, "ab", false, false},
    {{"- a\\*"}, "a*", false, true},
    // First match wins.
    {{"+ keep.o", "- *.o"}, "keep.o", false, false},
    {{"- *.o", "+ keep.o"}, "keep.o", false, true},
    {{"+ *.c", "+ */", "- *"}, "src/a.c", false, false},
    {{"+ *.c", "+ */", "- *"}, "src", true, false},
    {{"+ *.c", "+ */", "- *"}, "src/a.h", false, true},
    // An unclosed '[' is an ordinary character.
    {{"- a[b"}, "a[b", false, true},
};

TEST(FilterRules, Table) {
  for (const Case& c : kCases) {
    FilterSet set = make_set(c.rules);
    std::string rules;
    for (const std::string& r : c.rules) rules += "'" + r + "' ";
    EXPECT_EQ(set.excluded(c.path, c.is_directory), c.excluded)
        << "rules " << rules << "path " << c.path << (c.is_directory ? "/" : "");
  }
}

TEST(FilterRules, ParseErrors) {
  std::string why;
  EXPECT_FALSE(parse_filter_rule(FilterAction::kExclude, "", why));
  EXPECT_EQ(why, "empty pattern");
  EXPECT_FALSE(parse_filter_rule(FilterAction::kExclude, "/", why));
  EXPECT_FALSE(
      parse_filter_rule(FilterAction::kExclude, std::string(kMaxPatternBytes + 1, 'a'), why));
  EXPECT_FALSE(parse_filter_file("*.o\n- \n", why));
  EXPECT_EQ(why, "line 2: empty pattern");
}

TEST(FilterRules, FileSyntax) {
  std::string why;
  auto rules = parse_filter_file("# comment\n; comment\n\n*.o\n+ keep.o\n- /tmp/\r\n", why);
  ASSERT_TRUE(rules) << why;
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_EQ((*rules)[0].action, FilterAction::kExclude);
  EXPECT_EQ((*rules)[0].pattern, "*.o");
  EXPECT_EQ((*rules)[1].action, FilterAction::kInclude);
  EXPECT_TRUE((*rules)[2].anchored);
  EXPECT_TRUE((*rules)[2].directory_only);
  EXPECT_EQ((*rules)[2].pattern, "tmp");
}

TEST(FilterRules, LayersComeFirstDeepestFirstRelativeToTheirDirectory) {
  std::string why;
  FilterSet set = make_set({"- *.log"});
  auto top = std::make_shared<FilterLayer>();
  top->rules = *parse_filter_file("+ keep.log\n- /a/secret\n", why);
  auto sub = std::make_shared<FilterLayer>();
  sub->parent = top;
  sub->directory = "a";
  sub->rules = *parse_filter_file("- keep.log\n- /only-here\n", why);
  EXPECT_FALSE(set.excluded("keep.log", false, top.get()));
  EXPECT_TRUE(set.excluded("other.log", false, top.get()));
  EXPECT_TRUE(set.excluded("a/keep.log", false, sub.get()));
  EXPECT_TRUE(set.excluded("a/secret", false, sub.get()));
  EXPECT_TRUE(set.excluded("a/only-here", false, sub.get()));
  EXPECT_FALSE(set.excluded("a/b/only-here", false, sub.get()));
}

TEST(FilterRules, FilesFrom) {
  FileSelection selection;
  std::string why;
  ASSERT_TRUE(selection.add_list("./a/b/c.txt\n/d/\n\ne.txt\n", why)) << why;
  EXPECT_TRUE(selection.selects("a", true));
  EXPECT_TRUE(selection.selects("a/b", true));
  EXPECT_TRUE(selection.selects("a/b/c.txt", false));
  EXPECT_FALSE(selection.selects("a/b/other.txt", false));
  EXPECT_FALSE(selection.selects("a", false));
  EXPECT_TRUE(selection.selects("d", true));
  EXPECT_TRUE(selection.selects("d/x/y", false));
  EXPECT_TRUE(selection.selects("e.txt", false));
  EXPECT_FALSE(selection.selects("f.txt", false));
  FileSelection bad;
  EXPECT_FALSE(bad.add_list("ok\na/../../etc\n", why));
  EXPECT_EQ(why, "line 2: a path with '..' leaves the tree");
}

TEST(Wildmatch, HostilePatternStaysLinear) {
  const std::string pattern = std::string(200, '*') + "a*a*a*a*a*a*a*a*a*b";
  const std::string text(4000, 'a');
  EXPECT_FALSE(wildmatch(pattern, text));
  EXPECT_TRUE(wildmatch("**", text));
}

}  // namespace
}  // namespace ft
