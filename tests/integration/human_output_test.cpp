// What a person and a script read from the clients (docs/client.md,
// "Output"): one JSON summary schema for ftsend and ftget with error codes
// apart, ftls -l with link targets, directory marks and -h sizes, --stats,
// ftls --json failures in the stream, and -h as --human-readable.
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/server_fixture.hpp"
#include "support/tree_support.hpp"

namespace ft::testing {
namespace {

class HumanOutput : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    source_ = work_ / "tree";
    fs::create_directories(source_ / "sub");
    write_file(source_ / "one", "1");
    write_random_file(source_ / "sub/two", 3 * 1024 * 1024 + 5, 3);
    fs::create_symlink("one", source_ / "link");
  }
  fs::path source_;
};

// The keys both summaries must carry, whatever the direction.
void expect_summary_schema(const nlohmann::json& s, const std::string& op) {
  for (const char* key :
       {"files", "bytes", "skipped", "bytes_skipped", "unchanged", "links_skipped",
        "special_skipped", "failed", "dirs_created", "links_created", "seconds", "exit_code"}) {
    EXPECT_TRUE(s.contains(key) && s[key].is_number()) << key << " in " << s.dump();
  }
  EXPECT_EQ(s.value("event", ""), "summary");
  EXPECT_EQ(s.value("op", ""), op);
  EXPECT_TRUE(s["errors"].is_array()) << s.dump();
  for (const char* old : {"files_sent", "files_received", "bytes_sent", "files_skipped"}) {
    EXPECT_FALSE(s.contains(old)) << old;
  }
}

TEST_F(HumanOutput, SendAndGetShareOneSummarySchemaAndCountLinksApart) {
  auto sent = run({bin("ftsend"), "-r", "--no-links", "--json", source_.string(), remote()});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  auto up = json_summary(sent.out);
  expect_summary_schema(up, "send");
  EXPECT_EQ(up.value("files", -1), 2);
  EXPECT_EQ(up.value("bytes", -1), 1 + 3 * 1024 * 1024 + 5);
  EXPECT_EQ(up.value("links_skipped", -1), 1);
  EXPECT_EQ(up.value("unchanged", -1), 0);
  EXPECT_EQ(up.value("skipped", -1), 1);

  const fs::path landing = work_ / "landing";
  auto got = run({bin("ftget"), "-r", "--json", remote("tree"), landing.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  auto down = json_summary(got.out);
  expect_summary_schema(down, "get");
  EXPECT_EQ(down.value("files", -1), 2);
  EXPECT_EQ(down.value("bytes", -1), 1 + 3 * 1024 * 1024 + 5);

  // Again: everything is unchanged now, and the link still counts apart.
  auto again = run({bin("ftsend"), "-r", "--no-links", "--json", source_.string(), remote()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto second = json_summary(again.out);
  EXPECT_EQ(second.value("files", -1), 0);
  EXPECT_EQ(second.value("unchanged", -1), 2);
  EXPECT_EQ(second.value("links_skipped", -1), 1);
  EXPECT_EQ(second.value("skipped", -1), 3);
}

TEST_F(HumanOutput, AFailureCarriesItsCodeApartInTheEventAndTheSummary) {
  // A link to the server's reserved names is refused: a failure that root
  // cannot read its way around.
  fs::create_symlink("/srv/.ft-state", source_ / "outside");
  auto result = run({bin("ftsend"), "-r", "--json", source_.string(), remote()});
  EXPECT_EQ(result.exit_code, 9) << result.err;
  bool seen = false;
  for (const auto& event : json_lines(result.out)) {
    if (event.value("event", "") != "refused") continue;
    seen = true;
    EXPECT_EQ(event.value("code", ""), "LOCAL_FILE") << event.dump();
    EXPECT_EQ(event.value("message", "").find("(LOCAL_FILE)"), std::string::npos);
    EXPECT_NE(event.value("message", "").find("/srv/.ft-state"), std::string::npos);
  }
  EXPECT_TRUE(seen) << result.out;
  auto summary = json_summary(result.out);
  expect_summary_schema(summary, "send");
  EXPECT_EQ(summary.value("failed", -1), 1);
  EXPECT_EQ(summary.value("links_created", -1), 1);
  ASSERT_EQ(summary["errors"].size(), 1u) << summary.dump();
  EXPECT_EQ(summary["errors"][0].value("code", ""), "LOCAL_FILE");
  EXPECT_NE(summary["errors"][0].value("path", "").find("outside"), std::string::npos);
}

TEST_F(HumanOutput, GetOfAMissingFileReportsTheWireCode) {
  auto result = run({bin("ftget"), "--json", remote("nothing-here"), (work_ / "out").string()});
  EXPECT_EQ(result.exit_code, 5) << result.err;
  auto summary = json_summary(result.out);
  expect_summary_schema(summary, "get");
  ASSERT_EQ(summary["errors"].size(), 1u) << summary.dump();
  EXPECT_EQ(summary["errors"][0].value("code", ""), "NOT_FOUND");
}

TEST_F(HumanOutput, LongListingShowsTargetsMarksDirectoriesAndHumanSizes) {
  ASSERT_EQ(run({bin("ftsend"), "-r", "--links", "-q", source_.string(), remote()}).exit_code, 0);
  auto plain = run({bin("ftls"), "-l", remote("tree")});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find(" link -> one\n"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find(" sub/\n"), std::string::npos) << plain.out;
  auto human = run({bin("ftls"), "-l", "-h", remote("tree/sub")});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out.substr(0, 16), "-rw-r--r-- 3.1M ") << human.out;
  auto json = run({bin("ftls"), "--json", remote("tree")});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  bool link_seen = false;
  for (const auto& entry : json_lines(json.out)) {
    if (entry.value("name", "") == "link") {
      link_seen = true;
      EXPECT_EQ(entry.value("target", ""), "one");
    }
  }
  EXPECT_TRUE(link_seen) << json.out;
}

TEST_F(HumanOutput, JsonListingPutsFailuresInTheStream) {
  fs::create_directories(root_.path() / "d/ok");
  fs::create_directories(root_.path() / "d/locked/inner");
  ::chmod((root_.path() / "d/locked").c_str(), 0);
  if (::access((root_.path() / "d/locked").c_str(), R_OK) == 0) {
    // Root reads anything: a missing top directory still shows the stream.
    ::chmod((root_.path() / "d/locked").c_str(), 0755);
  } else {
    auto result = run({bin("ftls"), "-r", "--json", remote("d")});
    ::chmod((root_.path() / "d/locked").c_str(), 0755);
    EXPECT_EQ(result.exit_code, 5) << result.err;
    auto lines = json_lines(result.out);
    ASSERT_FALSE(lines.empty());
    bool error_seen = false;
    for (const auto& line : lines) {
      if (line.value("type", "") != "error") continue;
      error_seen = true;
      EXPECT_EQ(line.value("path", ""), "d/locked");
      EXPECT_EQ(line.value("code", ""), "PERMISSION_DENIED");
    }
    EXPECT_TRUE(error_seen) << result.out;
  }
  auto missing = run({bin("ftls"), "--json", remote("no-such-dir")});
  EXPECT_EQ(missing.exit_code, 5) << missing.err;
  auto lines = json_lines(missing.out);
  ASSERT_EQ(lines.size(), 1u) << missing.out;
  EXPECT_EQ(lines[0].value("type", ""), "error");
  EXPECT_EQ(lines[0].value("path", ""), "no-such-dir");
  EXPECT_EQ(lines[0].value("code", ""), "NOT_FOUND");
  EXPECT_NE(missing.err.find("NOT_FOUND"), std::string::npos) << missing.err;
}

TEST_F(HumanOutput, StatsAndHumanReadableSummaries) {
  auto result =
      run({bin("ftsend"), "-r", "--no-links", "-v", "-h", "--stats", source_.string(), remote()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Number of files: 3 (sent: 2, unchanged: 0, links skipped: 1"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("Total bytes sent: 3.0 MiB (3,145,734 bytes)"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("sent " + (source_ / "sub/two").string() + " 3.0 MiB"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.err.find("ftsend: sent 2 files (3.0 MiB), skipped 1 (1 link)"),
            std::string::npos)
      << result.err;
  // With --json the block goes to stderr: stdout stays JSON only.
  auto json =
      run({bin("ftget"), "-r", "--json", "--stats", remote("tree"), (work_ / "landing").string()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.err.find("Total bytes received: 3,145,734 bytes"), std::string::npos) << json.err;
  json_summary(json.out);
}

TEST_F(HumanOutput, HelpIsLongOnlyAndDashHIsHumanReadable) {
  for (const char* program : {"ftsend", "ftget", "ftls"}) {
    auto help = run({bin(program), "--help"});
    EXPECT_EQ(help.exit_code, 0) << program;
    EXPECT_NE(help.out.find("--human-readable"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("--help"), std::string::npos);
    // -h alone is a flag, not help: the missing arguments are a usage error.
    EXPECT_EQ(run({bin(program), "-h"}).exit_code, 2) << program;
  }
}

}  // namespace
}  // namespace ft::testing
