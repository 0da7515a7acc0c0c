#pragma once
// What ftsend and ftget count over a run, and the three ways they tell it:
// the JSON summary object (one schema for both commands, docs/client.md
// "Output"), the -v summary line and the --stats block.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ft::client {

/// Why a file was left alone, as the summary groups the skip reasons.
enum class SkipKind {
  kUnchanged,  // the other side has it: unchanged, same checksum, exists, committed
  kLink,       // a symbolic link without --links
  kSpecial,    // a socket, FIFO, device or other special file
};
/// The group of a skip `reason` of TransferReport::skipped().
SkipKind skip_kind(std::string_view reason);

/// One failed file or directory, for the summary's "errors" list.
struct FailureRecord {
  std::string path;     // raw, as in the events
  std::string code;     // the error table's name ("NO_SPACE", "LOCAL_FILE")
  std::string message;  // the message without the code
};

/// The summary's "errors" list keeps at most this many (the rest are
/// counted in "errors_omitted"): a run with a million failures still ends
/// with one line a script can read.
inline constexpr std::size_t kMaxSummaryErrors = 100;

struct RunTotals {
  bool receiving = false;  // ftget
  bool dry_run = false;
  std::uint64_t files = 0;  // sent or received (or would be, in a dry run)
  std::uint64_t bytes = 0;
  std::uint64_t skipped = 0;  // the three kinds below together
  std::uint64_t bytes_skipped = 0;
  std::uint64_t unchanged = 0;
  std::uint64_t links_skipped = 0;
  std::uint64_t special_skipped = 0;
  std::uint64_t failed = 0;
  std::uint64_t dirs_created = 0;
  std::uint64_t links_created = 0;
  bool deleting = false;                 // --delete was given
  std::uint64_t deleted = 0;             // names deleted (or that would be, in a dry run)
  std::uint64_t deletes_over_limit = 0;  // left alone by --max-delete
  bool deletes_skipped = false;          // the run failed: nothing was deleted
  std::uint64_t delta_files = 0;    // sent or received as a delta
  std::uint64_t bytes_matched = 0;  // of `bytes`, taken from the receiver's older copies
  std::uint64_t sparse_bytes = 0;  // of `bytes`: holes, sent as HOLE, not moved
  double seconds = 0;
  int exit_code = 0;
  std::vector<FailureRecord> errors;  // the first kMaxSummaryErrors
  std::uint64_t errors_omitted = 0;
};

/// The JSON summary object, one line without '\n'.
std::string summary_json(const RunTotals& totals);
/// The -v line: "sent 5 files (100016 bytes), skipped 3 (2 unchanged, 1
/// link), failed 0 in 0.07 s"; sizes as "97.7 KiB" with `human`.
std::string summary_line(const RunTotals& totals, bool human);
/// The --stats block (rsync's --stats, for ft), lines ending in '\n'.
std::string stats_text(const RunTotals& totals, bool human);

}  // namespace ft::client
