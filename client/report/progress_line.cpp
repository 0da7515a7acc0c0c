#include "client/report/progress_line.hpp"

#include <sys/ioctl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "client/report/sizes.hpp"

namespace ft::client {
namespace {

// The bar's inside, in columns: at least this, and no more than the target
// (wider on wide terminals); a name shorter than kMinNameColumns is left out.
constexpr std::size_t kMinBar = 5;
constexpr std::size_t kBarTarget = 10;
constexpr std::size_t kWideBarTarget = 20;
constexpr std::size_t kWideTerminal = 100;
constexpr std::size_t kMinNameColumns = 8;

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// The end of `text` in at most `columns` columns, "..." in front when cut.
std::string tail_within(std::string_view text, std::size_t columns) {
  if (display_columns(text) <= columns) return std::string(text);
  std::size_t from = text.size();
  std::size_t used = 3;
  while (from > 0) {
    std::size_t start = from - 1;
    while (start > 0 && continuation(text[start])) --start;
    const std::size_t width = display_columns(text.substr(start, from - start));
    if (used + width > columns) break;
    used += width;
    from = start;
  }
  return "..." + std::string(text.substr(from));
}

std::string bar_text(const ProgressSnapshot& s, std::size_t inside) {
  std::size_t filled = inside;
  if (s.bytes_total > 0 && s.bytes_done < s.bytes_total) {
    filled =
        static_cast<std::size_t>(static_cast<double>(s.bytes_done) /
                                 static_cast<double>(s.bytes_total) * static_cast<double>(inside));
  } else if (s.bytes_total == 0 && s.listing) {
    filled = 0;
  }
  return "[" + std::string(filled, '#') + std::string(inside - filled, '-') + "]";
}

std::string percent_text(const ProgressSnapshot& s) {
  std::uint64_t percent = 100;
  if (s.bytes_total > 0 && s.bytes_done < s.bytes_total) {
    percent = s.bytes_done * 100 / s.bytes_total;
  } else if (s.bytes_total == 0 && s.listing) {
    percent = 0;
  }
  char out[8];
  std::snprintf(out, sizeof out, "%3u%%", static_cast<unsigned>(percent));
  return out;
}

std::string phase_text(const ProgressSnapshot& s) {
  switch (s.phase) {
    case ProgressPhase::kCommitting:
      return "committing";
    case ProgressPhase::kVerifying:
      return "verifying";
    case ProgressPhase::kTransfer:
      break;
  }
  return "ETA " + duration_text(s.eta);
}

}  // namespace

std::string duration_text(double seconds) {
  if (!(seconds >= 0) || seconds > 99 * 3600) return "--:--";
  auto s = static_cast<long>(seconds + 0.5);
  char out[32];
  if (s >= 3600) {
    std::snprintf(out, sizeof out, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(out, sizeof out, "%02ld:%02ld", s / 60, s % 60);
  }
  return out;
}

std::size_t display_columns(std::string_view text) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++columns;
    } else if (!continuation(text[i])) {
      columns += 2;
    }
  }
  return columns;
}

std::size_t terminal_columns(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    char* end = nullptr;
    const unsigned long value = std::strtoul(env, &end, 10);
    if (end != env && *end == '\0' && value > 0 && value < 10000) return value;
  }
  return 80;
}

std::string format_progress_line(const ProgressSnapshot& s, std::size_t columns) {
  // The last column stays empty: a character written there makes some
  // terminals wrap, and the next '\r' would then redraw on a new line.
  const std::size_t room = columns > 0 ? columns - 1 : 0;
  enum Slot { kPercent, kBar, kSizes, kRate, kTail, kFiles, kSlots };
  std::string text[kSlots];
  text[kPercent] = percent_text(s);
  text[kSizes] = compact_bytes(static_cast<double>(s.bytes_done)) + "/" +
                 compact_bytes(static_cast<double>(s.bytes_total));
  text[kRate] = compact_bytes(s.rate) + "/s";
  text[kTail] = phase_text(s);
  text[kFiles] = std::to_string(s.files_done) + "/" + std::to_string(s.files_total) +
                 (s.listing ? "+ files" : " files");
  bool shown[kSlots] = {};
  auto width_of = [&](int slot) {
    return slot == kBar ? kMinBar + 2 : display_columns(text[slot]);
  };
  // Each piece takes one column of separator in front, but the first.
  std::size_t used = 0;
  auto pieces = 0;
  for (int slot : {kPercent, kTail, kRate, kBar, kSizes, kFiles}) {
    const std::size_t need = width_of(slot) + (pieces > 0 ? 1 : 0);
    if (used + need > room) continue;
    used += need;
    shown[slot] = true;
    ++pieces;
  }
  if (shown[kBar]) {
    const std::size_t target = room >= kWideTerminal ? kWideBarTarget : kBarTarget;
    const std::size_t extra = std::min(room - used, target - kMinBar);
    text[kBar] = bar_text(s, kMinBar + extra);
    used += extra;
  }
  std::string line;
  for (int slot = 0; slot < kSlots; ++slot) {
    if (!shown[slot]) continue;
    if (!line.empty()) line += ' ';
    line += text[slot];
  }
  if (!s.current.empty() && room > used + 1 && room - used - 1 >= kMinNameColumns) {
    line += ' ';
    line += tail_within(s.current, room - used - 1);
  }
  return line;
}

}  // namespace ft::client
