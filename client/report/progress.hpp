#pragma once
// The one-line progress display of ftsend and ftget on stderr: bytes, files
// done/total (the total grows while a tree is walked), rate, ETA and the
// current file, redrawn with '\r' at most four times a second and cleared
// before any other line is printed and at the end.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ft::client {

class ProgressDisplay {
 public:
  /// `enabled`: draw at all (stderr is a terminal, or --progress).
  explicit ProgressDisplay(bool enabled);
  bool enabled() const { return enabled_; }

  void add_total(std::uint64_t files, std::uint64_t bytes);
  void add_done(std::uint64_t files, std::uint64_t bytes);
  /// Bytes moved of files not finished yet (may be counted again by add_done).
  void add_moving_bytes(std::uint64_t bytes);
  void set_current(std::string_view printable_name);
  /// Redraws if the last draw is old enough (or `force`).
  void tick(bool force = false);
  /// Erases the line (before another message, and at the end).
  void clear();

 private:
  std::string line() const;

  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::uint64_t files_total_ = 0;
  std::uint64_t bytes_total_ = 0;
  std::uint64_t files_done_ = 0;
  std::uint64_t bytes_done_ = 0;
  std::string current_;
};

/// "1.5 MiB", "312 B".
std::string human_bytes(double bytes);

}  // namespace ft::client
