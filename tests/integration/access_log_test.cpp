// ftserve's log end to end (docs/server.md "Logs"): one access line per
// finished request of each kind, with identity, operation, escaped path,
// bytes, duration and result; --log-level and --access-log; JSON lines;
// journald's level prefixes when JOURNAL_STREAM names stderr.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/harness.hpp"
#include "support/server_fixture.hpp"

namespace ft::testing {
namespace {

using Fields = std::map<std::string, std::string>;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The key=value fields of the text access lines, quotes removed from the path.
std::vector<Fields> access_lines(const std::string& log) {
  static const std::regex head(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info access )");
  static const std::regex field(R"re((\w+)=("[^"]*"|\S+))re");
  std::vector<Fields> out;
  for (const std::string& line : lines_of(log)) {
    if (!std::regex_search(line, head)) continue;
    Fields fields;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), field);
         it != std::sregex_iterator(); ++it) {
      std::string value = (*it)[2].str();
      if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
      fields[(*it)[1].str()] = value;
    }
    out.push_back(std::move(fields));
  }
  return out;
}

// The one line of `op` on `path`; a failure when there is not exactly one.
Fields only_line(const std::vector<Fields>& lines, const std::string& op, const std::string& path) {
  std::vector<Fields> found;
  for (const Fields& f : lines) {
    if (f.at("op") == op && f.at("path") == path) found.push_back(f);
  }
  EXPECT_EQ(found.size(), 1u) << op << " " << path;
  return found.empty() ? Fields{} : found.front();
}

class AccessLogTest : public ServerFixture {
 protected:
  RunResult tool(const std::string& name, std::vector<std::string> args) {
    args.insert(args.begin(), bin(name));
    return run(args, std::chrono::seconds(60));
  }
  // A tree with a file, an empty directory and a link: PUT, MKDIR, SYMLINK.
  fs::path make_tree() {
    const fs::path src = work_ / "src";
    fs::create_directories(src / "sub");
    write_random_file(src / "a.txt", 1000, 1);
    fs::create_symlink("a.txt", src / "link");
    return src;
  }
  std::string stop_and_log() {
    EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.err();
    return server_.err();
  }
  std::string add_key(const fs::path& keys, const std::string& name) {
    RunResult added = run({bin("ftserve"), "keys", "add", name, "--keys", keys.string(), "--rights",
                           "list,read,create,overwrite"});
    EXPECT_EQ(added.exit_code, 0) << added.err;
    const fs::path key_file = work_ / (name + ".key");
    write_private(key_file, added.out);
    return key_file.string();
  }
};

TEST_F(AccessLogTest, OneLinePerRequestOfEachKind) {
  start_server();
  const fs::path src = make_tree();
  RunResult sent = tool("ftsend", {"-r", "--links", "-q", src.string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  fs::create_directories(work_ / "down");
  RunResult got = tool("ftget", {"-q", remote("src/a.txt"), (work_ / "down").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  RunResult listed = tool("ftls", {remote("src")});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  RunResult missing = tool("ftget", {"-q", remote("no \"such\".txt"), (work_ / "down").string()});
  EXPECT_NE(missing.exit_code, 0);
  const std::string log = stop_and_log();
  const std::vector<Fields> lines = access_lines(log);
  ASSERT_FALSE(lines.empty()) << log;
  static const std::regex duration(R"(\d+\.\d{6})");
  static const std::regex peer(R"(127\.0\.0\.1:\d+)");
  for (const Fields& f : lines) {
    for (const char* key : {"peer", "identity", "op", "path", "bytes", "duration", "result"}) {
      EXPECT_EQ(f.count(key), 1u) << key;
    }
    EXPECT_EQ(f.at("identity"), "-");  // open mode
    EXPECT_TRUE(std::regex_match(f.at("duration"), duration)) << f.at("duration");
    EXPECT_TRUE(std::regex_match(f.at("peer"), peer)) << f.at("peer");
  }
  Fields put = only_line(lines, "put", "src/a.txt");
  EXPECT_EQ(put["bytes"], "1000");
  EXPECT_EQ(put["result"], "ok");
  // A directory is made first and given its time after its contents: two
  // MKDIRs, each with its line.
  std::size_t mkdirs = 0;
  for (const Fields& f : lines) {
    if (f.at("op") != "mkdir" || f.at("path") != "src/sub") continue;
    ++mkdirs;
    EXPECT_EQ(f.at("result"), "ok");
    EXPECT_EQ(f.at("bytes"), "0");
  }
  EXPECT_GE(mkdirs, 1u) << log;
  Fields link = only_line(lines, "symlink", "src/link");
  EXPECT_EQ(link["result"], "ok");
  EXPECT_EQ(link["bytes"], "0");
  Fields get = only_line(lines, "get", "src/a.txt");
  EXPECT_EQ(get["bytes"], "1000");
  EXPECT_EQ(get["result"], "ok");
  // ftsend may list the target first (to skip unchanged files); ftls's is last.
  std::vector<Fields> lists;
  for (const Fields& f : lines) {
    if (f.at("op") == "list" && f.at("path") == "src") lists.push_back(f);
  }
  ASSERT_FALSE(lists.empty()) << log;
  EXPECT_EQ(lists.back().at("result"), "ok");
  EXPECT_NE(lists.back().at("bytes"), "0");  // the ENTRIES frames sent
  // An error, with its quotes escaped so the line still parses.
  bool refused = false;
  for (const Fields& f : lines) {
    if (f.at("path") == "no \\x22such\\x22.txt") {
      refused = true;
      EXPECT_EQ(f.at("result"), "NOT_FOUND");
    }
  }
  EXPECT_TRUE(refused) << log;
}

TEST_F(AccessLogTest, WarnLevelHidesInfoAndAccessLines) {
  start_server({"--log-level", "warn"});
  write_random_file(work_ / "f.bin", 100, 2);
  RunResult sent = tool("ftsend", {"-q", (work_ / "f.bin").string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::string log = stop_and_log();
  EXPECT_NE(log.find(" warn WARNING: serving"), std::string::npos) << log;  // open mode
  EXPECT_EQ(log.find(" info "), std::string::npos) << log;
  EXPECT_TRUE(access_lines(log).empty()) << log;
}

TEST_F(AccessLogTest, DebugLevelShowsEachConnection) {
  start_server({"--log-level", "debug"});
  RunResult listed = tool("ftls", {remote()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const std::string log = stop_and_log();
  EXPECT_TRUE(
      std::regex_search(log, std::regex(R"(Z debug peer=127\.0\.0\.1:\d+: connected \(1 open\))")))
      << log;
  EXPECT_TRUE(
      std::regex_search(log, std::regex(R"(Z debug peer=127\.0\.0\.1:\d+: closed \(0 open\))")))
      << log;
  EXPECT_EQ(access_lines(log).size(), 1u) << log;
}

TEST_F(AccessLogTest, AccessLogOffKeepsOtherInfoLines) {
  start_server({"--access-log", "off"});
  write_random_file(work_ / "f.bin", 100, 2);
  RunResult sent = tool("ftsend", {"-q", (work_ / "f.bin").string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::string log = stop_and_log();
  EXPECT_TRUE(access_lines(log).empty()) << log;
  EXPECT_NE(log.find(" info SIGTERM received, stopping"), std::string::npos) << log;
}

TEST_F(AccessLogTest, JsonLinesParseAndNameTheIdentity) {
  const fs::path keys = work_ / "keys";
  const std::string key_file = add_key(keys, "alice");
  start_server({"--keys", keys.string(), "--log-format", "json"});
  const fs::path src = make_tree();
  RunResult sent =
      tool("ftsend", {"-r", "--links", "-q", "--key-file", key_file, src.string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  RunResult missing =
      tool("ftget", {"-q", "--key-file", key_file, remote("nothing"), work_.path().string()});
  EXPECT_NE(missing.exit_code, 0);
  const std::string log = stop_and_log();
  std::map<std::string, nlohmann::json> access;  // by op + path
  bool authenticated = false;
  for (const std::string& line : lines_of(log)) {
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(j.contains("time") && j.contains("level")) << line;
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    if (j.value("event", "") == "access") {
      access[j["op"].get<std::string>() + " " + j["path"].get<std::string>()] = j;
    } else if (j.value("msg", "").find("authenticated as alice") != std::string::npos) {
      authenticated = true;
    }
  }
  EXPECT_TRUE(authenticated) << log;
  ASSERT_EQ(access.count("put src/a.txt"), 1u) << log;
  const nlohmann::json& put = access["put src/a.txt"];
  EXPECT_EQ(put["identity"], "alice");
  EXPECT_EQ(put["bytes"], 1000);
  EXPECT_EQ(put["result"], "ok");
  EXPECT_EQ(put["offset"], 0);
  EXPECT_TRUE(put["duration"].is_number());
  EXPECT_EQ(access.count("mkdir src/sub"), 1u) << log;
  EXPECT_EQ(access.count("symlink src/link"), 1u) << log;
  bool not_found = false;
  for (const auto& [key, j] : access) {
    if (j["path"] == "nothing") not_found = j["result"] == "NOT_FOUND";
  }
  EXPECT_TRUE(not_found) << log;
}

// journald gives a service's stderr a stream and names it in JOURNAL_STREAM
// (device:inode); a wrapper sets it to the very pipe the test reads.
TEST_F(AccessLogTest, JournalStreamGetsLevelPrefixesInsteadOfTimestamps) {
  start_server({}, {"/bin/sh", "-c",
                    "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec \"$0\" \"$@\""});
  write_random_file(work_ / "f.bin", 10, 3);
  RunResult sent = tool("ftsend", {"-q", (work_ / "f.bin").string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::string log = stop_and_log();
  bool warned = false;
  bool accessed = false;
  for (const std::string& line : lines_of(log)) {
    ASSERT_TRUE(std::regex_search(line, std::regex("^<[3467]>"))) << line;
    EXPECT_FALSE(std::regex_search(line, std::regex(R"(\d{4}-\d\d-\d\dT)"))) << line;
    warned = warned || line.rfind("<4>WARNING: serving", 0) == 0;
    accessed = accessed || line.rfind("<6>access peer=", 0) == 0;
  }
  EXPECT_TRUE(warned) << log;
  EXPECT_TRUE(accessed) << log;
}

TEST_F(AccessLogTest, AnotherStreamsJournalVariableIsIgnored) {
  // Inherited from a parent whose stderr was the journal, then redirected.
  start_server({}, {"/usr/bin/env", "JOURNAL_STREAM=1:1"});
  const std::string log = stop_and_log();
  EXPECT_TRUE(std::regex_search(log, std::regex(R"(^\d{4}-\d\d-\d\dT\S+Z warn WARNING)"))) << log;
}

TEST_F(AccessLogTest, BadLogOptionsAreUsageErrors) {
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--log-level", "loud"},
                                              {"--log-format", "xml"},
                                              {"--access-log", "maybe"},
                                              {"--metrics", "127.0.0.1:99999"}}) {
    std::vector<std::string> argv = ftserve_argv(root_.path(), bad);
    RunResult r = run(argv, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 2) << bad[0] << ": " << r.err;
    EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ft::testing
