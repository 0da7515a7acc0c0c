#pragma once
// The one-line progress display of ftsend and ftget on stderr (the text:
// progress_line.hpp): percent, a bar, bytes done and total, rate, ETA or
// the phase (committing, verifying), files done/total (the total grows,
// shown "N+", while a tree is listed) and the current file. Redrawn with
// '\r' at most four times a second, at the terminal's current width, and
// cleared before any other line is printed and at the end.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "client/report/progress_line.hpp"

namespace ft::client {

class ProgressDisplay {
 public:
  /// `enabled`: draw at all (stderr is a terminal, or --progress).
  explicit ProgressDisplay(bool enabled);
  bool enabled() const { return enabled_; }

  void add_total(std::uint64_t files, std::uint64_t bytes);
  /// A retried tree walk is about to count again every file it has not
  /// settled: the totals restart from what is done, or they would count
  /// those files twice.
  void restart_totals();
  void add_done(std::uint64_t files, std::uint64_t bytes);
  /// Bytes moved of files not finished yet (may be counted again by add_done).
  void add_moving_bytes(std::uint64_t bytes);
  /// Bytes a resumed file already had on the other side: done, but not
  /// moved by this run (they do not count in the rate).
  void add_present_bytes(std::uint64_t bytes);
  /// An attempt at a file that starts again from its first byte (a delta
  /// that did not verify): what it counted as moved and as present is no
  /// longer done, or the line would pass 100 %.
  void take_back(std::uint64_t moved, std::uint64_t present);
  /// Of the bytes counted by add_moving_bytes(), how many still wait in
  /// our own send queue: they are not shown as done (nor in the rate) until
  /// they leave it.
  void set_unsent_bytes(std::uint64_t bytes) { bytes_unsent_ = bytes; }
  /// Whether a tree walk is still listing (its totals still grow).
  void set_listing(bool listing) { listing_ = listing; }
  /// What the run is doing now; `draw_now` redraws at once when it changed
  /// (before a step that blocks, such as syncing a large file).
  void set_phase(ProgressPhase phase, bool draw_now = false);
  void set_current(std::string_view printable_name);
  /// Redraws if the last draw is old enough (or `force`).
  void tick(bool force = false);
  /// Erases the line (before another message, and at the end).
  void clear();

  /// The counters as they stand (for tests and the final summary).
  ProgressSnapshot snapshot() const;

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::uint64_t files_total_ = 0;
  std::uint64_t bytes_total_ = 0;
  std::uint64_t files_done_ = 0;
  std::uint64_t bytes_done_ = 0;
  std::uint64_t bytes_present_ = 0;
  std::uint64_t bytes_unsent_ = 0;
  bool listing_ = false;
  ProgressPhase phase_ = ProgressPhase::kTransfer;
  std::string current_;
};

}  // namespace ft::client
