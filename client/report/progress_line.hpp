#pragma once
// The text of the progress line, a pure function of the counters and the
// terminal's width, so that every width can be tested without a terminal:
//
//   45% [#####-----] 12.3MiB/27.0MiB 1.2MiB/s ETA 00:12 3/10 files dir/a.bin
//
// Pieces are dropped when the line would not fit (the name first, then the
// file count, the sizes, the bar, the rate), and the line never takes the
// last column, so it never wraps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ft::client {

/// What the run is doing: moving bytes, or waiting for the server to
/// commit (ftsend: all data is out, the OKs are due) or verifying and
/// syncing a received file (ftget).
enum class ProgressPhase { kTransfer, kCommitting, kVerifying };

struct ProgressSnapshot {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t files_done = 0;
  std::uint64_t files_total = 0;
  bool listing = false;  // a tree walk is still listing: the totals grow
  ProgressPhase phase = ProgressPhase::kTransfer;
  double rate = 0;      // bytes per second
  double eta = -1;      // seconds; negative: unknown
  std::string current;  // the current file, already printable()
};

/// The line for a terminal `columns` wide (at most columns - 1 columns).
std::string format_progress_line(const ProgressSnapshot& snapshot, std::size_t columns);

/// The columns `text` (UTF-8, printable) takes: ASCII one each, any other
/// character counted as two, so that wide characters never overflow.
std::size_t display_columns(std::string_view text);

/// The width of the terminal on `fd`; else $COLUMNS; else 80.
std::size_t terminal_columns(int fd);

/// "00:42", "1:02:03", "--:--" for a negative or absurd time.
std::string duration_text(double seconds);

}  // namespace ft::client
