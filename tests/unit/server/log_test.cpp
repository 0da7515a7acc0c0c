// The log's line forms (docs/server.md "Logs"): text with an RFC 3339 time
// and a level, journald's "<N>" prefixes, JSON objects, and the access line
// with its escaped path.
#include "server/log/log.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace ft::server::log {
namespace {

using Clock = std::chrono::system_clock;

// 2023-11-14T22:13:20.123Z
const Clock::time_point kWhen{std::chrono::milliseconds(1'700'000'000'123)};

AccessRecord sample_access() {
  AccessRecord r;
  r.peer = "127.0.0.1:40000";
  r.identity = "alice";
  r.op = "put";
  r.path = "docs/a.txt";
  r.bytes = 1234;
  r.seconds = 0.0125;
  r.result = "ok";
  return r;
}

TEST(LogFormat, Rfc3339InUtcWithMilliseconds) {
  EXPECT_EQ(rfc3339(kWhen), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(rfc3339(Clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST(LogFormat, TextLineHasTimeLevelAndMessage) {
  Settings text;
  EXPECT_EQ(format_line(text, Level::kWarn, "disk slow", kWhen),
            "2023-11-14T22:13:20.123Z warn disk slow\n");
  EXPECT_EQ(format_line(text, Level::kError, "x", kWhen), "2023-11-14T22:13:20.123Z error x\n");
  const std::string now = format_line(text, Level::kInfo, "started", Clock::now());
  EXPECT_TRUE(
      std::regex_match(now, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info started\n)")))
      << now;
}

TEST(LogFormat, JournalPrefixesReplaceTheTimestamp) {
  Settings journal;
  journal.journal = true;
  EXPECT_EQ(format_line(journal, Level::kError, "boom", kWhen), "<3>boom\n");
  EXPECT_EQ(format_line(journal, Level::kWarn, "hm", kWhen), "<4>hm\n");
  EXPECT_EQ(format_line(journal, Level::kInfo, "ok", kWhen), "<6>ok\n");
  EXPECT_EQ(format_line(journal, Level::kDebug, "d", kWhen), "<7>d\n");
  EXPECT_EQ(format_access(journal, sample_access(), kWhen),
            "<6>access peer=127.0.0.1:40000 identity=alice op=put path=\"docs/a.txt\" "
            "bytes=1234 duration=0.012500 result=ok\n");
}

TEST(LogFormat, JsonLineIsOneObject) {
  Settings json;
  json.format = Format::kJson;
  const std::string line =
      format_line(json, Level::kWarn, "peer=1.2.3.4:5: \"quoted\" \\ and \x01 ctl", kWhen);
  ASSERT_EQ(line.back(), '\n');
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "peer=1.2.3.4:5: \"quoted\" \\ and \\x01 ctl");
}

TEST(LogFormat, AccessLineText) {
  Settings text;
  AccessRecord r = sample_access();
  r.offset = 4096;
  EXPECT_EQ(format_access(text, r, kWhen),
            "2023-11-14T22:13:20.123Z info access peer=127.0.0.1:40000 identity=alice op=put "
            "path=\"docs/a.txt\" bytes=1234 duration=0.012500 result=ok offset=4096\n");
  r.identity = "";  // open mode
  r.offset = 0;
  r.result = "NOT_FOUND";
  EXPECT_EQ(format_access(text, r, kWhen),
            "2023-11-14T22:13:20.123Z info access peer=127.0.0.1:40000 identity=- op=put "
            "path=\"docs/a.txt\" bytes=1234 duration=0.012500 result=NOT_FOUND\n");
}

TEST(LogFormat, AccessPathIsEscapedAsElsewhereAndUnambiguous) {
  Settings text;
  AccessRecord r = sample_access();
  const std::string path = "a\"b\\c\nd\xff\xe2\x80\xae.txt";  // quote, backslash, LF, bad byte, RLO
  r.path = path;
  const std::string line = format_access(text, r, kWhen);
  EXPECT_NE(line.find(R"(path="a\x22b\x5cc\x0ad\xff\xe2\x80\xae.txt")"), std::string::npos) << line;
  // One line, whatever the path holds.
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  // Other UTF-8 is kept as is.
  r.path = "caf\xc3\xa9";
  EXPECT_NE(format_access(text, r, kWhen).find("path=\"caf\xc3\xa9\""), std::string::npos);
}

TEST(LogFormat, AccessLineJson) {
  Settings json;
  json.format = Format::kJson;
  AccessRecord r = sample_access();
  const std::string path = "x\"y\\z\n\xff";
  r.path = path;
  auto j = nlohmann::json::parse(format_access(json, r, kWhen));
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["event"], "access");
  EXPECT_EQ(j["peer"], "127.0.0.1:40000");
  EXPECT_EQ(j["identity"], "alice");
  EXPECT_EQ(j["op"], "put");
  EXPECT_EQ(j["path"], "x\"y\\x5cz\\x0a\\xff");
  EXPECT_EQ(j["bytes"], 1234);
  EXPECT_DOUBLE_EQ(j["duration"].get<double>(), 0.0125);
  EXPECT_EQ(j["result"], "ok");
  EXPECT_EQ(j["offset"], 0);
  r.identity = "";
  EXPECT_TRUE(nlohmann::json::parse(format_access(json, r, kWhen))["identity"].is_null());
  // Under journald the object keeps its fields behind the prefix.
  json.journal = true;
  const std::string line = format_access(json, r, kWhen);
  ASSERT_EQ(line.substr(0, 3), "<6>");
  EXPECT_EQ(nlohmann::json::parse(line.substr(3))["event"], "access");
}

TEST(LogSettings, LevelsAndFormatsByName) {
  EXPECT_EQ(parse_level("error"), Level::kError);
  EXPECT_EQ(parse_level("warn"), Level::kWarn);
  EXPECT_EQ(parse_level("warning"), Level::kWarn);
  EXPECT_EQ(parse_level("info"), Level::kInfo);
  EXPECT_EQ(parse_level("debug"), Level::kDebug);
  EXPECT_FALSE(parse_level("INFO"));
  EXPECT_FALSE(parse_level("verbose"));
  EXPECT_EQ(parse_format("text"), Format::kText);
  EXPECT_EQ(parse_format("json"), Format::kJson);
  EXPECT_FALSE(parse_format("xml"));
  for (Level level : {Level::kError, Level::kWarn, Level::kInfo, Level::kDebug}) {
    EXPECT_EQ(parse_level(level_name(level)), level);
  }
}

TEST(LogSettings, LevelFiltersLessSevereLines) {
  const Settings saved = settings();
  Settings warn;
  warn.level = Level::kWarn;
  configure(warn);
  EXPECT_TRUE(enabled(Level::kError));
  EXPECT_TRUE(enabled(Level::kWarn));
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_FALSE(enabled(Level::kDebug));
  configure(saved);
}

TEST(LogSettings, JournalStreamIsRecognisedByDeviceAndInode) {
  int fds[2];
  int other[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::pipe(other), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fds[1], &st), 0);
  const std::string value = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", value.c_str(), 1);
  EXPECT_TRUE(is_journal_stream(fds[1]));
  EXPECT_FALSE(is_journal_stream(other[1]));  // another stream, as after a redirection
  ::setenv("JOURNAL_STREAM", (value + "x").c_str(), 1);
  EXPECT_FALSE(is_journal_stream(fds[1]));
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(is_journal_stream(fds[1]));
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(is_journal_stream(fds[1]));
  for (int fd : {fds[0], fds[1], other[0], other[1]}) ::close(fd);
}

}  // namespace
}  // namespace ft::server::log
