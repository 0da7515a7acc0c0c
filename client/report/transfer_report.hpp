#pragma once
// Everything ftsend and ftget tell about a run: one event per file (sent or
// received, skipped, failed, refused, retry) as a human line (by
// verbosity) or a JSON object per line on stdout (--json), the progress
// display, the counters of the final summary, and the exit status those
// events add up to (docs/client.md, "Exit status"). Every name passed in is
// raw; this class makes it printable() for humans.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client/report/console.hpp"
#include "client/report/progress.hpp"
#include "client/report/run_summary.hpp"
#include "common/rules/errors.hpp"

namespace ft::client {

struct ReportOptions {
  const char* program = "";
  bool receiving = false;  // ftget: "received", op "get", ...
  Verbosity verbosity = Verbosity::kNormal;
  bool json = false;
  bool progress = false;  // draw the progress line (terminal or --progress)
  bool dry_run = false;
  bool stats = false;           // --stats: the statistics block at the end
  bool human_readable = false;  // -h: sizes as "1.5 MiB" in the lines and --stats
  bool stdout_is_data = false;  // ftget FILE -: every line goes to stderr
};

class TransferReport {
 public:
  explicit TransferReport(ReportOptions options);
  const ReportOptions& options() const { return options_; }
  bool quiet() const { return options_.verbosity == Verbosity::kQuiet; }
  bool verbose() const { return options_.verbosity == Verbosity::kVerbose; }
  ProgressDisplay& progress() { return progress_; }

  /// A file sent (ftsend) or received (ftget), or that would be (dry run).
  void transferred(std::string_view path, std::uint64_t bytes, double seconds);
  /// Of the next file transferred, `bytes` were taken from the receiver's
  /// older copy instead of sent (a delta transfer, docs/client.md).
  void delta_matched(std::uint64_t bytes) {
    ++totals_.delta_files;
    totals_.bytes_matched += bytes;
  }
  /// A file left alone: unchanged, existing (--ignore-existing), a symlink
  /// without --links, a socket/FIFO/device. `loud`: printed at the normal
  /// verbosity (symlinks and special files), else only with -v.
  void skipped(std::string_view path, std::uint64_t bytes, std::string_view reason, bool loud);
  /// Something created that is not a file: a directory or a symlink
  /// (printed with -v; a symlink counts as a success for the exit status).
  void created(std::string_view what, std::string_view path);
  /// `bytes` of a file went as a hole (SPARSE): counted, never moved.
  void sparse(std::uint64_t bytes) { totals_.sparse_bytes += bytes; }
  /// A file or directory that failed: always printed, on stderr under
  /// `subject` (default: `path`), in JSON under `path`.
  void failed(std::string_view path, const Error& error, std::string_view subject = {});
  /// A symlink refused because its target leaves the tree (a failure).
  void refused(std::string_view path, std::string_view target, std::string_view reason);
  /// A name deleted by --delete (a directory when `directory`), or that
  /// would be in a dry run: printed with -v (and always in a dry run).
  void deleted(std::string_view path, bool directory);
  /// --delete was given: the summary counts deletions.
  void deleting() { totals_.deleting = true; }
  /// --max-delete left `over` names alone: said on stderr, and the exit
  /// status is 11 unless a failure says more.
  void deletions_over_limit(std::uint64_t over, std::optional<std::uint64_t> max);
  /// The run failed: --delete deletes nothing, and says so on stderr.
  void deletions_skipped();
  /// True if anything failed so far (a file, a directory, the connection).
  bool failed_so_far() const { return first_failure_.has_value() || run_failure_.has_value(); }
  /// A retry about to happen ("connection lost (...)", or a file's reason).
  void retry(std::string_view path, std::string_view reason);
  /// A line for -v only, on stdout (stderr with --json).
  void verbose_line(std::string_view line);
  /// An informational line on stderr (not with -q).
  void note(std::string_view message);
  /// The whole run failed at the connection level after the retries
  /// (exit 4), or was interrupted (exit 1), or the peer broke the
  /// protocol (exit 8): that status wins over the per-file ones.
  void connection_failed(const Error& error);

  /// Clears the progress line, prints the summary (-v: a line on stderr;
  /// --stats: the statistics block on stdout, or stderr with --json;
  /// --json: the summary object) and returns the exit status: `status` when
  /// given (a plain FILE... run decides by argument order), else the tree
  /// rule (docs/client.md, "Exit status").
  int finish(std::optional<int> status = std::nullopt);
  /// The counters so far (exit_code and seconds are set by finish()).
  const RunTotals& totals() const { return totals_; }

 private:
  void human(std::string_view line, bool to_stdout);
  void json_event(std::string_view event, std::string_view path, std::uint64_t bytes,
                  std::optional<double> seconds, std::string_view reason,
                  const Error* error = nullptr);
  void count_failure(Exit status, std::string_view path, const Error& error);
  std::string size(std::uint64_t bytes) const;

  ReportOptions options_;
  ProgressDisplay progress_;
  std::chrono::steady_clock::time_point start_;
  RunTotals totals_;
  std::optional<Exit> first_failure_;
  std::optional<Exit> run_failure_;
};

}  // namespace ft::client
