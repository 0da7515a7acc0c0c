// The path rules of docs/protocol.md section 6: hostile paths are refused,
// ordinary ones (including odd but legal names) accepted; split_path and
// printable().
#include "common/rules/path_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/base/limits.hpp"

namespace ft::test {
namespace {

using namespace std::string_literals;

/// `count` components of `each` bytes ('c'), joined by '/'.
std::string components(std::size_t count, std::size_t each) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out += '/';
    out += std::string(each, 'c');
  }
  return out;
}

/// A path of exactly `total` bytes made of 200-byte components.
std::string path_of_length(std::size_t total) {
  std::string out;
  while (out.size() + 201 < total) out += std::string(200, 'p') + '/';
  out += std::string(total - out.size(), 'q');
  return out;
}

std::string show(const std::string& s) {
  return printable(s) + " (" + std::to_string(s.size()) + " bytes)";
}

TEST(PathRules, HostilePathsAreRefused) {
  const std::vector<std::string> hostile = {
      // '..' and '.' in every position
      "..", "../a", "a/..", "a/../b", "a/b/..", "../../etc/passwd", "a/b/../../..", ".", "./a",
      "a/.", "a/./b",
      // absolute, empty components, trailing '/'
      "/", "/a", "/etc/passwd", "//", "a//b", "a/", "a/b/", "//a",
      // empty (not the root here)
      "",
      // NUL and control characters
      "a\0b"s, "\0"s, "a/\0"s, "a\x01", "\x1b[31mred", "a/b\x7f", "line\nbreak", "tab\there", "\r",
      // invalid UTF-8
      "\x80",
      "a/\x80"
      "b",
      "\xC0\xAF", "a/\xC0\xAF/b", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xED\xBF\xBF",
      "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF8\x88\x80\x80\x80", "\xFF", "\xFE", "\xE2\x82",
      "abc\xC3", "\xF0\x9F\x98", "\xC3\x28",
      // limits
      std::string(limits::kMaxComponentBytes + 1, 'n'),
      "a/" + std::string(limits::kMaxComponentBytes + 1, 'n') + "/b",
      path_of_length(limits::kMaxPathBytes + 1), components(limits::kMaxPathDepth + 1, 1),
      // the server's reserved prefix, in any position
      ".ft-x", "a/.ft-x", "a/.ft-x/b", ".ft-", "a/b/.ft-tmp.123", ".ft-/x",
      // C1 controls (CSI, NEL), alone and inside a name
      "\xC2\x80", "x\xC2\x85y",
      "a/\xC2\x9B"
      "2J",
      "\xC2\x9F",
      // bidi marks, embeddings, overrides and isolates: "evil\u202Etxt.exe"
      // shows as "evilexe.txt"
      "evil\xE2\x80\xAEtxt.exe", "\xE2\x80\xAA", "\xE2\x80\xAB", "\xE2\x80\xAC", "\xE2\x80\xAD",
      "\xE2\x81\xA6", "\xE2\x81\xA7", "\xE2\x81\xA8", "a/\xE2\x81\xA9", "\xE2\x80\x8E",
      "\xE2\x80\x8F", "\xD8\x9C",
      // zero-width and invisible characters, BOM, line and paragraph separators
      "zero\xE2\x80\x8Bwidth", "\xE2\x80\x8C", "\xE2\x80\x8D", "\xE2\x81\xA0", "\xE2\x81\xA4",
      "\xEF\xBB\xBF"
      "bom",
      "a\xE2\x80\xA8"
      "b",
      "\xE2\x80\xA9",
      // surrogates and overlong forms of '/', '.' and NUL
      "\xED\xA0\xBD\xED\xB8\x80", "\xC0\xAE\xC0\xAE/x",
      "a\xC0\xAF"
      "b",
      "\xC0\x80", "\xE0\x80\xAE", "\xF0\x80\x80\xAE"};
  ASSERT_GE(hostile.size(), 30u);
  for (const std::string& path : hostile) {
    auto why = path_violation(path, false);
    EXPECT_TRUE(why.has_value()) << show(path) << " was accepted";
    if (why) {
      EXPECT_FALSE(why->empty());
    }
    if (!path.empty()) {
      EXPECT_TRUE(path_violation(path, true).has_value()) << show(path);
    }
  }
}

TEST(PathRules, OrdinaryPathsAreAccepted) {
  const std::vector<std::string> fine = {
      "a", "a/b/c", "ünïcødé/файл.txt", "日本語/ファイル", "emoji 😀.png", "with space/a b",
      ".hidden", "..foo", "foo..", "...", ".ft", ".f", "x.ft-y", "ft-x", "a.ft-/b",
      // backslash is an ordinary byte in a Linux name
      "a\\b", "..\\..", "\\",
      // largest code point, NBSP, replacement character, a right-to-left
      // script (the characters are fine; only the invisible controls are not)
      "\xF4\x8F\xBF\xBF", "\xC2\xA0", "\xEF\xBF\xBD", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D",
      // neighbours of the refused ranges: U+00A0, U+200A, U+2010, U+2027,
      // U+202F, U+2065, U+206A, U+FEFE
      "\xE2\x80\x8A", "\xE2\x80\x90", "\xE2\x80\xA7", "\xE2\x80\xAF", "\xE2\x81\xA5",
      "\xE2\x81\xAA", "\xEF\xBB\xBE",
      // limits, inclusive
      std::string(limits::kMaxComponentBytes, 'n'), components(limits::kMaxPathDepth, 1),
      components(limits::kMaxPathDepth, 63), path_of_length(limits::kMaxPathBytes)};
  for (const std::string& path : fine) {
    EXPECT_EQ(path_violation(path, false), std::nullopt) << show(path);
    EXPECT_EQ(path_violation(path, true), std::nullopt) << show(path);
  }
  EXPECT_EQ(components(limits::kMaxPathDepth, 63).size(), limits::kMaxPathBytes - 1);
  EXPECT_EQ(path_of_length(limits::kMaxPathBytes).size(), limits::kMaxPathBytes);
}

TEST(PathRules, EmptyPathIsTheRootOnlyWhenAllowed) {
  EXPECT_EQ(path_violation("", true), std::nullopt);
  EXPECT_TRUE(path_violation("", false).has_value());
}

TEST(PathRules, ComponentRules) {
  EXPECT_EQ(component_violation("name.txt"), std::nullopt);
  EXPECT_EQ(component_violation(std::string(255, 'x')), std::nullopt);
  for (std::string bad : {""s, "."s, ".."s, "a/b"s, "/"s, "a\0"s, "\x1f"s, "\x7f"s, ".ft-a"s,
                          "\xC0\x80"s, std::string(256, 'x')}) {
    EXPECT_TRUE(component_violation(bad).has_value()) << show(bad);
  }
}

TEST(PathRules, HiddenControls) {
  for (std::uint32_t cp :
       {0x80u,   0x85u,   0x9Bu,   0x9Fu,   0x061Cu, 0x200Bu, 0x200Cu, 0x200Du,
        0x200Eu, 0x200Fu, 0x2028u, 0x2029u, 0x202Au, 0x202Bu, 0x202Cu, 0x202Du,
        0x202Eu, 0x2060u, 0x2064u, 0x2066u, 0x2067u, 0x2068u, 0x2069u, 0xFEFFu}) {
    EXPECT_TRUE(is_hidden_control(cp)) << std::hex << cp;
  }
  for (std::uint32_t cp : {0x20u, 0x41u, 0x7Eu, 0xA0u, 0xADu, 0x061Bu, 0x05D0u, 0x200Au, 0x2010u,
                           0x2027u, 0x202Fu, 0x2065u, 0x206Au, 0xFEFEu, 0xFFFDu, 0x10FFFFu}) {
    EXPECT_FALSE(is_hidden_control(cp)) << std::hex << cp;
  }
  EXPECT_TRUE(component_violation("a\xE2\x80\xAE"
                                  "b")
                  .has_value());
  EXPECT_TRUE(component_violation("\xEF\xBB\xBF").has_value());
}

TEST(PathRules, SymlinkTargets) {
  // Inside the tree, however written.
  for (auto [link, target] : std::vector<std::pair<std::string, std::string>>{{"l", "a"},
                                                                              {"l", "a/b/c"},
                                                                              {"d/l", "../x"},
                                                                              {"d/e/l", "../../x"},
                                                                              {"l", "./a//b/."},
                                                                              {"l", "a/../b"},
                                                                              {"d/l", ".."},
                                                                              {"l", "ünï/файл"},
                                                                              {"l", "..foo"}}) {
    EXPECT_EQ(symlink_target_violation(link, target), std::nullopt) << link << " -> " << target;
  }
  // Outside, absolute, NUL, reserved names, controls, invalid UTF-8.
  for (auto [link, target] : std::vector<std::pair<std::string, std::string>>{
           {"l", ""},
           {"l", ".."},
           {"l", "../x"},
           {"d/l", "../.."},
           {"l", "a/../../x"},
           {"l", "/etc/passwd"},
           {"l", "/"},
           {"l", "//x"},
           {"l", "/proc/self/root"},
           {"l", "a\0b"s},
           {"l", ".ft-part-0123"},
           {"l", "d/.ft-tmp-x"},
           {"l", "a\x1b[2J"},
           {"l", "a\xE2\x80\xAE"},
           {"l", "\xC0\xAE\xC0\xAE"},
           {"l", std::string(256, 'n')},
           {"l", std::string(limits::kMaxPathBytes + 1, 'a')}}) {
    EXPECT_TRUE(symlink_target_violation(link, target).has_value())
        << link << " -> " << show(target);
  }
}

TEST(PathRules, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\x7f"));
  EXPECT_TRUE(is_valid_utf8("\xC2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(is_valid_utf8("\xDF\xBF"));          // U+07FF
  EXPECT_TRUE(is_valid_utf8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, below the surrogates
  EXPECT_TRUE(is_valid_utf8("\xEE\x80\x80"));      // U+E000, above them
  EXPECT_TRUE(is_valid_utf8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  for (std::string bad : {"\x80"s,
                          "\xBF"s,
                          "\xC0\xAF"s,
                          "\xC1\x81"s,
                          "\xE0\x9F\xBF"s,
                          "\xF0\x8F\xBF\xBF"s,
                          "\xED\xA0\x80"s,
                          "\xED\xBF\xBF"s,
                          "\xF4\x90\x80\x80"s,
                          "\xF7\xBF\xBF\xBF"s,
                          "\xF8\x88\x80\x80\x80"s,
                          "\xFC\x84\x80\x80\x80\x80"s,
                          "\xFE"s,
                          "\xFF"s,
                          "\xC2"s,
                          "\xE2\x82"s,
                          "\xF0\x9F\x98"s,
                          "\xC2\x41"s,
                          "\xE2\x28\xA1"s,
                          "a\xC2"s}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << show(bad);
  }
}

TEST(PathRules, SplitPath) {
  EXPECT_EQ(split_path(""), std::vector<std::string>{});
  EXPECT_EQ(split_path("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(split_path("a/b/c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split_path("ünï/файл.txt"), (std::vector<std::string>{"ünï", "файл.txt"}));
  EXPECT_EQ(split_path(components(64, 3)).size(), 64u);
  EXPECT_EQ(split_path("a\\b/c"), (std::vector<std::string>{"a\\b", "c"}));
}

TEST(PathRules, PrintableEscapesWhatActsOnATerminal) {
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"plain name.txt", "plain name.txt"},
      {"\x1b[31mred", "\\x1b[31mred"},
      {"a\nb", "a\\x0ab"},
      {"\r\t", "\\x0d\\x09"},
      {"nul\0!"s, "nul\\x00!"},
      {"del\x7f", "del\\x7f"},
      // C1 controls U+0080..U+009F (0xC2 0x80..0x9F) act on terminals too.
      {"\xC2\x80", "\\xc2\\x80"},
      {"x\xC2\x85y", "x\\xc2\\x85y"},
      {"\xC2\x9B"
       "2J",
       "\\xc2\\x9b2J"},
      {"\xC2\x9F", "\\xc2\\x9f"},
      {"\xC2\xA0", "\xC2\xA0"},  // NBSP is not a control
      // bidi overrides and isolates, zero-width characters and the BOM are
      // shown byte by byte: "evil\u202Etxt.exe" must not read "evilexe.txt"
      {"evil\xE2\x80\xAEtxt.exe", "evil\\xe2\\x80\\xaetxt.exe"},
      {"\xE2\x81\xA6x\xE2\x81\xA9", "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9"},
      {"a\xE2\x80\x8B"
       "b",
       "a\\xe2\\x80\\x8bb"},
      {"\xE2\x80\x8D", "\\xe2\\x80\\x8d"},
      {"\xEF\xBB\xBF"
       "bom",
       "\\xef\\xbb\\xbfbom"},
      {"\xD8\x9C", "\\xd8\\x9c"},
      {"\xE2\x80\xA8", "\\xe2\\x80\\xa8"},
      {"\xE2\x80\x90", "\xE2\x80\x90"},  // a hyphen is visible
      // invalid UTF-8, byte by byte
      {"\x80", "\\x80"},
      {"\xC0\xAF", "\\xc0\\xaf"},
      {"\xED\xA0\x80", "\\xed\\xa0\\x80"},
      {"\xF4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
      {"ab\xE2\x82", "ab\\xe2\\x82"},
      {"\xFF\xFE", "\\xff\\xfe"},
      // valid unicode kept as is, right-to-left letters included
      {"ünïcødé/файл.txt", "ünïcødé/файл.txt"},
      {"\xD7\xA9\xD7\x9C", "\xD7\xA9\xD7\x9C"},
      {"日本 😀", "日本 😀"},
      {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},
  };
  for (const Case& c : cases) EXPECT_EQ(printable(c.in), c.out) << show(c.in);
}

TEST(PathRules, PrintableOutputIsSafeForAnyByte) {
  // Every single byte and every byte pair: the result is valid UTF-8 with no
  // C0, DEL or C1 control left in it.
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      std::string in(1, static_cast<char>(a));
      if (b >= 0) in += static_cast<char>(b);
      std::string out = printable(in);
      ASSERT_TRUE(is_valid_utf8(out)) << show(in);
      for (std::size_t i = 0; i < out.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(out[i]);
        ASSERT_FALSE(c < 0x20 || c == 0x7f) << show(in);
        if (c == 0xC2 && i + 1 < out.size()) {
          ASSERT_GE(static_cast<unsigned char>(out[i + 1]), 0xA0) << show(in);
        }
      }
    }
  }
}

TEST(PathRules, PrintableShowsEveryHiddenControlAndKeepsTheRest) {
  auto encode = [](std::uint32_t cp) {
    std::string out;
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
  };
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string in = encode(cp);
    const std::string out = printable(in);
    if (cp < 0x20 || cp == 0x7F || is_hidden_control(cp)) {
      std::string expected;
      for (char c : in) {
        static const char* hex = "0123456789abcdef";
        expected += "\\x";
        expected += hex[static_cast<unsigned char>(c) >> 4];
        expected += hex[static_cast<unsigned char>(c) & 15];
      }
      ASSERT_EQ(out, expected) << std::hex << cp;
      ASSERT_TRUE(component_violation("a" + in).has_value()) << std::hex << cp;
    } else {
      ASSERT_EQ(out, in) << std::hex << cp;
    }
  }
}

// ARCHIVE (docs/protocol.md, section 5.9): any bytes but NUL and '/', with
// the structural rules and the reserved prefix kept.
TEST(PathRules, AnyBytesAcceptsEveryByteButNulAndSlash) {
  for (int c = 1; c < 256; ++c) {
    if (c == '/') continue;
    const std::string name = std::string("a") + static_cast<char>(c) + "b";
    EXPECT_FALSE(component_violation(name, NameRules::kAnyBytes).has_value()) << c;
    EXPECT_FALSE(path_violation("d/" + name, false, NameRules::kAnyBytes).has_value()) << c;
  }
  for (const char* name : {"new\nline", "\xff\xfe", "bidi\xe2\x80\xae", "\x7f"}) {
    EXPECT_TRUE(component_violation(name).has_value()) << printable(name);
    EXPECT_FALSE(component_violation(name, NameRules::kAnyBytes).has_value()) << printable(name);
  }
  for (const char* bad : {"", ".", "..", ".ft-part-x"}) {
    EXPECT_TRUE(component_violation(bad, NameRules::kAnyBytes).has_value()) << bad;
  }
  EXPECT_TRUE(component_violation(std::string("a\0b", 3), NameRules::kAnyBytes).has_value());
  for (const char* bad : {"/abs", "a//b", "a/", "a/../b", "./a"}) {
    EXPECT_TRUE(path_violation(bad, false, NameRules::kAnyBytes).has_value()) << bad;
  }
  EXPECT_TRUE(path_violation(std::string(limits::kMaxComponentBytes + 1, '\x01'), false,
                             NameRules::kAnyBytes)
                  .has_value());
}

TEST(PathRules, ArchiveTargetsAreVerbatimButForReservedNames) {
  for (const char* target : {"/etc/passwd", "../../../../x", "a/../../b", "nowhere", "\x1b[31m",
                             "\xff", "./.", "//double"}) {
    EXPECT_FALSE(archive_target_violation(target).has_value()) << printable(target);
  }
  EXPECT_TRUE(archive_target_violation("").has_value());
  EXPECT_TRUE(archive_target_violation(std::string("a\0b", 3)).has_value());
  EXPECT_TRUE(archive_target_violation(std::string(limits::kMaxPathBytes + 1, 'x')).has_value());
  EXPECT_TRUE(archive_target_violation(".ft-part-1").has_value());
  EXPECT_TRUE(archive_target_violation("/srv/.ft-state/x").has_value());
}

}  // namespace
}  // namespace ft::test
