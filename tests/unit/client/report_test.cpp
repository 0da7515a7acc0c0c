// The human and JSON output of the clients, without a server: the progress
// line at every width, sizes, the summary schema, ftls's long form.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "client/report/entry_format.hpp"
#include "client/report/progress.hpp"
#include "client/report/progress_line.hpp"
#include "client/report/run_summary.hpp"
#include "client/report/sizes.hpp"

namespace ft::client {
namespace {

ProgressSnapshot halfway() {
  ProgressSnapshot s;
  s.bytes_done = 13 * 1024 * 1024;
  s.bytes_total = 27 * 1024 * 1024;
  s.files_done = 3;
  s.files_total = 10;
  s.rate = 1.2 * 1024 * 1024;
  s.eta = 12;
  s.current = "some/directory/with/a/rather-long-file-name.bin";
  return s;
}

TEST(ProgressLine, NeverTakesTheLastColumnAtAnyWidth) {
  ProgressSnapshot s = halfway();
  for (std::size_t columns = 0; columns <= 200; ++columns) {
    const std::string line = format_progress_line(s, columns);
    EXPECT_LT(display_columns(line), std::max<std::size_t>(columns, 1)) << columns << ": " << line;
  }
}

TEST(ProgressLine, ShowsPercentBarRateAndEtaAt40Columns) {
  const std::string line = format_progress_line(halfway(), 40);
  EXPECT_NE(line.find(" 48%"), std::string::npos) << line;
  EXPECT_NE(line.find("[#"), std::string::npos) << line;
  EXPECT_NE(line.find("1.2MiB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 00:12"), std::string::npos) << line;
}

TEST(ProgressLine, ShowsEverythingAt80ColumnsAndCutsTheNameFromTheFront) {
  const std::string line = format_progress_line(halfway(), 80);
  EXPECT_NE(line.find("13.0MiB/27.0MiB"), std::string::npos) << line;
  EXPECT_NE(line.find("3/10 files"), std::string::npos) << line;
  EXPECT_NE(line.find(" ..."), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with("-name.bin")) << line;
  EXPECT_LE(display_columns(line), 79u);
}

TEST(ProgressLine, ShowsThePhaseInsteadOfTheEta) {
  ProgressSnapshot s = halfway();
  s.bytes_done = s.bytes_total;
  s.phase = ProgressPhase::kCommitting;
  std::string line = format_progress_line(s, 40);
  EXPECT_NE(line.find("100%"), std::string::npos) << line;
  EXPECT_NE(line.find("committing"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
  s.phase = ProgressPhase::kVerifying;
  EXPECT_NE(format_progress_line(s, 40).find("verifying"), std::string::npos);
}

TEST(ProgressLine, MarksAGrowingTotalWhileListing) {
  ProgressSnapshot s = halfway();
  s.listing = true;
  EXPECT_NE(format_progress_line(s, 80).find("3/10+ files"), std::string::npos);
}

TEST(ProgressLine, CountsWideCharactersAsTwoColumns) {
  EXPECT_EQ(display_columns("abc"), 3u);
  EXPECT_EQ(display_columns("\xc3\xa9t\xc3\xa9"), 5u);  // "été"
  ProgressSnapshot s = halfway();
  s.current = std::string(40, 'x') + "\xe6\x97\xa5\xe6\x9c\xac";  // two CJK characters
  for (std::size_t columns : {40u, 60u, 80u, 81u, 82u}) {
    EXPECT_LT(display_columns(format_progress_line(s, columns)), columns);
  }
}

// A delta that did not verify is fetched again from byte 0, and a retried
// download resumes from what it kept: what the abandoned attempt counted is
// taken back, so the line never passes 100 %.
TEST(ProgressDisplay, AnAttemptStartedAgainIsTakenBack) {
  ProgressDisplay progress(false);
  progress.add_total(1, 1000);
  progress.add_present_bytes(600);  // copied from the local older copy
  progress.add_moving_bytes(300);   // new data
  progress.take_back(300, 600);     // the delta did not verify
  EXPECT_EQ(progress.snapshot().bytes_done, 0u);
  progress.add_moving_bytes(1000);  // fetched whole
  EXPECT_EQ(progress.snapshot().bytes_done, progress.snapshot().bytes_total);
  progress.take_back(5000, 0);  // never below zero
  EXPECT_EQ(progress.snapshot().bytes_done, 0u);
}

// A tree walk cut after listing 3 files and settling 1 counts the other 2
// again in its retry: the totals restart from what is done, so the line
// ends at 3/3 files, not 3/5.
TEST(ProgressDisplay, ARetriedWalkCountsItsUnsettledFilesOnce) {
  ProgressDisplay progress(false);
  progress.add_total(3, 300);
  progress.add_moving_bytes(100);
  progress.add_done(1, 0);
  progress.restart_totals();
  progress.add_total(2, 200);
  progress.add_moving_bytes(200);
  progress.add_done(2, 0);
  EXPECT_EQ(progress.snapshot().files_total, 3u);
  EXPECT_EQ(progress.snapshot().files_done, 3u);
  EXPECT_EQ(progress.snapshot().bytes_total, 300u);
  EXPECT_EQ(progress.snapshot().bytes_done, 300u);
}

TEST(ProgressLine, DurationText) {
  EXPECT_EQ(duration_text(-1), "--:--");
  EXPECT_EQ(duration_text(42), "00:42");
  EXPECT_EQ(duration_text(3723), "1:02:03");
}

TEST(Sizes, HumanAndShortForms) {
  EXPECT_EQ(human_bytes(312), "312 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(1024.0 * 1024 - 1), "1.0 MiB");
  EXPECT_EQ(compact_bytes(1536), "1.5KiB");
  EXPECT_EQ(short_size(0), "0");
  EXPECT_EQ(short_size(1023), "1023");
  EXPECT_EQ(short_size(1024), "1.0K");
  EXPECT_EQ(short_size(1025), "1.1K");  // rounded up, as ls does
  EXPECT_EQ(short_size(17 * 1024), "17K");
  EXPECT_EQ(short_size(1024 * 1024 - 1), "1.0M");
  EXPECT_EQ(short_size(5ull << 30), "5.0G");
  EXPECT_EQ(grouped(0), "0");
  EXPECT_EQ(grouped(999), "999");
  EXPECT_EQ(grouped(100016), "100,016");
  EXPECT_EQ(grouped(1234567), "1,234,567");
  EXPECT_EQ(size_text(100016, false), "100016 bytes");
  EXPECT_EQ(size_text(100016, true), "97.7 KiB");
}

TEST(RunSummary, OneSchemaForBothDirections) {
  RunTotals t;
  t.files = 5;
  t.bytes = 100016;
  t.skipped = 3;
  t.unchanged = 2;
  t.links_skipped = 1;
  t.failed = 1;
  t.exit_code = 9;
  t.errors.push_back({"src/x", "NO_SPACE", "no space left on the server"});
  for (bool receiving : {false, true}) {
    t.receiving = receiving;
    auto j = nlohmann::json::parse(summary_json(t));
    EXPECT_EQ(j["event"], "summary");
    EXPECT_EQ(j["op"], receiving ? "get" : "send");
    EXPECT_EQ(j["files"], 5);
    EXPECT_EQ(j["bytes"], 100016);
    EXPECT_EQ(j["skipped"], 3);
    EXPECT_EQ(j["unchanged"], 2);
    EXPECT_EQ(j["links_skipped"], 1);
    EXPECT_EQ(j["special_skipped"], 0);
    EXPECT_EQ(j["failed"], 1);
    EXPECT_EQ(j["exit_code"], 9);
    ASSERT_EQ(j["errors"].size(), 1u);
    EXPECT_EQ(j["errors"][0]["path"], "src/x");
    EXPECT_EQ(j["errors"][0]["code"], "NO_SPACE");
    EXPECT_EQ(j["errors"][0]["message"], "no space left on the server");
    EXPECT_FALSE(j.contains("files_sent"));
    EXPECT_FALSE(j.contains("files_received"));
    EXPECT_FALSE(j.contains("errors_omitted"));
  }
}

TEST(RunSummary, SaysHowManyErrorsWereLeftOut) {
  RunTotals t;
  t.failed = kMaxSummaryErrors + 7;
  t.errors.assign(kMaxSummaryErrors, FailureRecord{"p", "IO_ERROR", "input/output error"});
  t.errors_omitted = 7;
  t.dry_run = true;
  auto j = nlohmann::json::parse(summary_json(t));
  EXPECT_EQ(j["errors"].size(), kMaxSummaryErrors);
  EXPECT_EQ(j["errors_omitted"], 7);
  EXPECT_EQ(j["dry_run"], true);
}

TEST(RunSummary, SkipReasonsAreGrouped) {
  EXPECT_EQ(skip_kind("unchanged"), SkipKind::kUnchanged);
  EXPECT_EQ(skip_kind("same checksum"), SkipKind::kUnchanged);
  EXPECT_EQ(skip_kind("exists"), SkipKind::kUnchanged);
  EXPECT_EQ(skip_kind("committed"), SkipKind::kUnchanged);
  EXPECT_EQ(skip_kind("symlink"), SkipKind::kLink);
  for (const char* special : {"fifo", "socket", "device", "special file"}) {
    EXPECT_EQ(skip_kind(special), SkipKind::kSpecial) << special;
  }
}

TEST(RunSummary, LineAndStatsHonourHumanReadable) {
  RunTotals t;
  t.files = 5;
  t.bytes = 100016;
  t.skipped = 2;
  t.unchanged = 1;
  t.links_skipped = 1;
  t.seconds = 0.5;
  EXPECT_EQ(summary_line(t, false),
            "sent 5 files (100016 bytes), skipped 2 (1 unchanged, 1 link), failed 0 in 0.50 s");
  EXPECT_EQ(summary_line(t, true),
            "sent 5 files (97.7 KiB), skipped 2 (1 unchanged, 1 link), failed 0 in 0.50 s");
  const std::string stats = stats_text(t, true);
  EXPECT_NE(stats.find("Number of files: 7 (sent: 5, unchanged: 1, links skipped: 1"),
            std::string::npos)
      << stats;
  EXPECT_NE(stats.find("Total bytes sent: 97.7 KiB (100,016 bytes)"), std::string::npos) << stats;
  EXPECT_NE(stats_text(t, false).find("Total bytes sent: 100,016 bytes"), std::string::npos);
}

TEST(EntryFormat, LongFormMarksDirectoriesShowsTargetsAndHumanSizes) {
  Entry dir{"docs", EntryType::kDirectory, 4096, 0, 0755, {}, {}, {}};
  Entry file{"big.iso", EntryType::kFile, 3 * 1024 * 1024 + 1, 0, 0644, {}, {}, {}};
  Entry link{"latest", EntryType::kSymlink, 7, 0, 0777, {}, "big.iso", {}};
  EXPECT_EQ(format_entry(dir, dir.name, ListFormat::kNames, 1), "docs/");
  const std::string long_dir = format_entry(dir, dir.name, ListFormat::kLong, 4);
  EXPECT_EQ(long_dir.substr(0, 16), "drwxr-xr-x 4096 ");
  EXPECT_TRUE(long_dir.ends_with(" docs/")) << long_dir;
  EXPECT_TRUE(format_entry(link, link.name, ListFormat::kLong, 1).ends_with(" latest -> big.iso"));
  const std::vector<Entry> entries{dir, file, link};
  EXPECT_EQ(size_column_width(entries, true), 4u);  // "4.0K", "3.1M"
  const std::string human = format_entries(entries, ListFormat::kLong, true);
  EXPECT_NE(human.find("-rw-r--r-- 3.1M "), std::string::npos) << human;
  EXPECT_NE(human.find("lrwxrwxrwx    7 "), std::string::npos) << human;
}

TEST(EntryFormat, ErrorObjectForTheJsonStream) {
  auto j = nlohmann::json::parse(
      error_json("a/b", Error{ErrorCode::PERMISSION_DENIED, "a/b", "permission denied"}));
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["path"], "a/b");
  EXPECT_EQ(j["code"], "PERMISSION_DENIED");
  EXPECT_EQ(j["message"], "permission denied");
}

}  // namespace
}  // namespace ft::client
