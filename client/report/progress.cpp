#include "client/report/progress.hpp"

#include <unistd.h>

#include <algorithm>

namespace ft::client {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kRedrawInterval{250};

void write_stderr(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;  // a progress line is not worth an error
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

ProgressDisplay::ProgressDisplay(bool enabled)
    : enabled_(enabled), start_(Clock::now()), last_draw_(start_) {}

void ProgressDisplay::add_total(std::uint64_t files, std::uint64_t bytes) {
  files_total_ += files;
  bytes_total_ += bytes;
}

void ProgressDisplay::restart_totals() {
  files_total_ = files_done_;
  bytes_total_ = bytes_done_;
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

void ProgressDisplay::add_present_bytes(std::uint64_t bytes) {
  bytes_done_ += bytes;
  bytes_present_ += bytes;
}

void ProgressDisplay::take_back(std::uint64_t moved, std::uint64_t present) {
  bytes_done_ -= std::min(bytes_done_, moved + present);
  bytes_present_ -= std::min(bytes_present_, present);
}

void ProgressDisplay::set_phase(ProgressPhase phase, bool draw_now) {
  if (phase == phase_) return;
  phase_ = phase;
  tick(draw_now);
}

void ProgressDisplay::set_current(std::string_view printable_name) {
  if (enabled_) current_ = printable_name;
}

ProgressSnapshot ProgressDisplay::snapshot() const {
  ProgressSnapshot s;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const std::uint64_t done = bytes_done_ - std::min(bytes_done_, bytes_unsent_);
  const std::uint64_t moved = done - std::min(done, bytes_present_);
  s.bytes_done = done;
  s.bytes_total = std::max(bytes_total_, done);
  s.files_done = files_done_;
  s.files_total = std::max(files_total_, files_done_);
  s.listing = listing_;
  s.phase = phase_;
  s.rate = elapsed > 0 ? static_cast<double>(moved) / elapsed : 0;
  s.eta = s.rate > 0 ? static_cast<double>(s.bytes_total - s.bytes_done) / s.rate : -1;
  s.current = current_;
  return s;
}

void ProgressDisplay::tick(bool force) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (!force && drawn_ && now - last_draw_ < kRedrawInterval) return;
  if (!force && !drawn_ && now - start_ < kRedrawInterval) return;
  last_draw_ = now;
  drawn_ = true;
  // The width is asked each time: the terminal may have been resized.
  std::string text = "\r";  // appended: gcc -O2 misreads "lit" + string (-Wrestrict)
  text += format_progress_line(snapshot(), terminal_columns(STDERR_FILENO));
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
