// The configuration file syntax (common/rules/settings_file.hpp): what
// parses, and that every malformed line is named by number with its reason.
#include "common/rules/settings_file.hpp"

#include <gtest/gtest.h>

namespace ft {
namespace {

std::vector<SettingsSection> parse_ok(std::string_view text) {
  SettingsError error;
  auto sections = parse_settings(text, error);
  EXPECT_TRUE(sections) << "line " << error.line << ": " << error.reason;
  return sections ? *sections : std::vector<SettingsSection>{};
}

SettingsError parse_bad(std::string_view text) {
  SettingsError error;
  auto sections = parse_settings(text, error);
  EXPECT_FALSE(sections) << text;
  return error;
}

TEST(SettingsFile, EmptyTextHasOnlyTheTopSection) {
  auto sections = parse_ok("");
  ASSERT_EQ(sections.size(), 1u);
  EXPECT_EQ(sections[0].name, "");
  EXPECT_EQ(sections[0].line, 0u);
  EXPECT_TRUE(sections[0].settings.empty());
}

TEST(SettingsFile, KeysValuesCommentsAndLineNumbers) {
  auto sections = parse_ok(
      "# ftserve settings\n"
      "\n"
      "root = /srv/ft   # the served tree\n"
      "  listen=127.0.0.1:7070\r\n"
      "max_connections = 64\n"
      "read-only = true\n"
      "empty =\n");
  ASSERT_EQ(sections.size(), 1u);
  const auto& s = sections[0].settings;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].line, 3u);
  EXPECT_EQ(s[0].key, "root");
  EXPECT_EQ(s[0].value, "/srv/ft");
  EXPECT_EQ(s[1].line, 4u);
  EXPECT_EQ(s[1].value, "127.0.0.1:7070");
  EXPECT_EQ(s[2].key, "max-connections");  // '_' reads as '-'
  EXPECT_EQ(s[3].value, "true");
  EXPECT_EQ(s[4].value, "");
}

TEST(SettingsFile, QuotedValues) {
  auto sections = parse_ok(
      "a = \"with # hash and \\\"quotes\\\" and \\\\\"  # comment\n"
      "b = 'C:\\literal # too'\n"
      "c = dir#1\n"
      "d = \"\"\n");
  const auto& s = sections[0].settings;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].value, "with # hash and \"quotes\" and \\");
  EXPECT_EQ(s[1].value, "C:\\literal # too");
  EXPECT_EQ(s[2].value, "dir#1");  // a '#' not after a space is part of the value
  EXPECT_EQ(s[3].value, "");
}

TEST(SettingsFile, Sections) {
  auto sections = parse_ok(
      "top = 1\n"
      "[nas]\n"
      "host = nas.local:7070\n"
      "exclude = *.tmp\n"
      "exclude = cache/\n"
      "[ laptop ]  # spaces inside the brackets are allowed\n");
  ASSERT_EQ(sections.size(), 3u);
  EXPECT_EQ(sections[0].settings.size(), 1u);
  EXPECT_EQ(sections[1].name, "nas");
  EXPECT_EQ(sections[1].line, 2u);
  ASSERT_EQ(sections[1].settings.size(), 3u);
  EXPECT_EQ(sections[1].settings[2].value, "cache/");
  EXPECT_EQ(sections[2].name, "laptop");
  EXPECT_TRUE(sections[2].settings.empty());
}

TEST(SettingsFile, MalformedLinesAreNamed) {
  struct Case {
    const char* text;
    std::size_t line;
    const char* reason_part;
  };
  const Case cases[] = {
      {"a = 1\nnonsense\n", 2, "expected 'key = value'"},
      {"= 1\n", 1, "missing key"},
      {"bad key = 1\n", 1, "bad key 'bad key'"},
      {"k\xc3\xa9y = 1\n", 1, "bad key"},
      {"\n\n[nas\n", 3, "missing ']'"},
      {"[na s]\n", 1, "bad section name"},
      {"[]\n", 1, "bad section name"},
      {"[nas] x\n", 1, "unexpected text after ']'"},
      {"[nas]\n[nas]\n", 2, "already started on line 1"},
      {"a = \"open\n", 1, "missing closing \""},
      {"a = 'open\n", 1, "missing closing '"},
      {"a = \"x\" y\n", 1, "unexpected text after the quoted value"},
      {"a = \"\\n\"\n", 1, "unknown escape"},
  };
  for (const Case& c : cases) {
    SettingsError error = parse_bad(c.text);
    EXPECT_EQ(error.line, c.line) << c.text;
    EXPECT_NE(error.reason.find(c.reason_part), std::string::npos)
        << c.text << " -> " << error.reason;
  }
}

TEST(SettingsFile, BinaryIsRefused) {
  SettingsError error = parse_bad(std::string_view("a = 1\nb\0 = 2\n", 13));
  EXPECT_EQ(error.line, 2u);
  EXPECT_NE(error.reason.find("NUL"), std::string::npos);
}

TEST(SettingsFile, SwitchValues) {
  for (const char* yes : {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
    EXPECT_TRUE(is_switch_value(yes)) << yes;
  }
  for (const char* no : {"", "True", "maybe", "2", " true"})
    EXPECT_FALSE(is_switch_value(no)) << no;
}

TEST(SettingsFile, ErrorText) {
  EXPECT_EQ(settings_error_text("/etc/ft/ftserve.conf", 7, "unknown setting 'x'"),
            "/etc/ft/ftserve.conf:7: unknown setting 'x'");
  EXPECT_EQ(settings_error_text("f", 0, "cannot read"), "f: cannot read");
}

}  // namespace
}  // namespace ft
