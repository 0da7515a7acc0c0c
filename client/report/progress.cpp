#include "client/report/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kRedrawInterval{250};
// The current file is cut so the line fits an 80-column terminal.
constexpr std::size_t kMaxNameColumns = 30;

void write_stderr(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;  // a progress line is not worth an error
    done += static_cast<std::size_t>(n);
  }
}

std::string duration_text(double seconds) {
  if (seconds < 0 || seconds > 99 * 3600) return "--:--";
  auto s = static_cast<long>(seconds + 0.5);
  char out[32];
  if (s >= 3600) {
    std::snprintf(out, sizeof out, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(out, sizeof out, "%02ld:%02ld", s / 60, s % 60);
  }
  return out;
}

}  // namespace

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return out;
}

ProgressDisplay::ProgressDisplay(bool enabled)
    : enabled_(enabled), start_(Clock::now()), last_draw_(start_) {}

void ProgressDisplay::add_total(std::uint64_t files, std::uint64_t bytes) {
  files_total_ += files;
  bytes_total_ += bytes;
}

void ProgressDisplay::add_done(std::uint64_t files, std::uint64_t bytes) {
  files_done_ += files;
  bytes_done_ += bytes;
  tick();
}

void ProgressDisplay::add_moving_bytes(std::uint64_t bytes) {
  bytes_done_ += bytes;
  tick();
}

void ProgressDisplay::set_current(std::string_view printable_name) {
  if (!enabled_) return;
  current_ = printable_name;
  if (current_.size() > kMaxNameColumns) {
    // Cut at the start of a character, never inside a UTF-8 sequence.
    std::size_t from = current_.size() - (kMaxNameColumns - 3);
    while (from < current_.size() && (static_cast<unsigned char>(current_[from]) & 0xC0) == 0x80) {
      ++from;
    }
    current_ = "..." + current_.substr(from);
  }
}

std::string ProgressDisplay::line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(bytes_done_) / elapsed : 0;
  const std::uint64_t done = std::min(bytes_done_, std::max(bytes_done_, bytes_total_));
  const double eta =
      rate > 0 && bytes_total_ >= done ? static_cast<double>(bytes_total_ - done) / rate : -1;
  return human_bytes(static_cast<double>(bytes_done_)) + "  " + std::to_string(files_done_) + "/" +
         std::to_string(files_total_) + " files  " + human_bytes(rate) + "/s  ETA " +
         duration_text(eta) + "  " + current_;
}

void ProgressDisplay::tick(bool force) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (!force && drawn_ && now - last_draw_ < kRedrawInterval) return;
  if (!force && !drawn_ && now - start_ < kRedrawInterval) return;
  last_draw_ = now;
  drawn_ = true;
  std::string text = "\r";  // appended: gcc -O2 misreads "lit" + string (-Wrestrict)
  text += line();
  text += "\x1b[K";
  write_stderr(text);
}

void ProgressDisplay::clear() {
  if (!enabled_ || !drawn_) return;
  write_stderr("\r\x1b[K");
  drawn_ = false;
  last_draw_ = Clock::now() - kRedrawInterval;  // redraw at the next tick
}

}  // namespace ft::client
