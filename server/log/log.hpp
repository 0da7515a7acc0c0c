#pragma once
// ftserve's log: one line per event on stderr, with an RFC 3339 timestamp
// and a level, as text or as JSON (docs/server.md "Logs"). Under journald
// (JOURNAL_STREAM names stderr) the timestamp gives way to the sd-daemon
// level prefix ("<4>"), since the journal stamps each line itself.
//
// Cheap by design: a line is formatted in a per-thread buffer and handed to
// stderr, which main() makes fully buffered, in one fwrite (whole lines, so
// lines from worker threads never interleave). The Server flushes once per
// loop turn and at exit: no write syscall per line on the hot path.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ft::server::log {

/// Most to least severe; a line is written when its level is at or above
/// the configured one (--log-level).
enum class Level : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
enum class Format { kText, kJson };

struct Settings {
  Level level = Level::kInfo;
  Format format = Format::kText;
  /// One access line per finished request (--access-log), at info level.
  bool access = true;
  /// stderr is the journal: "<N>" prefixes instead of timestamps.
  bool journal = false;
};

/// Sets the process's log settings: once, in main, before any thread runs.
void configure(const Settings& settings);
const Settings& settings();

std::optional<Level> parse_level(std::string_view name);
std::optional<Format> parse_format(std::string_view name);
/// "error", "warn", "info", "debug".
std::string_view level_name(Level level);

/// Whether `fd` is the stream journald gave this process: $JOURNAL_STREAM
/// ("DEVICE:INODE") matches its fstat (systemd.exec(5)).
bool is_journal_stream(int fd);

bool enabled(Level level);

void error(const char* format, ...) __attribute__((format(printf, 1, 2)));
void warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
void info(const char* format, ...) __attribute__((format(printf, 1, 2)));
void debug(const char* format, ...) __attribute__((format(printf, 1, 2)));

/// One finished request, as the access line shows it.
struct AccessRecord {
  std::string_view peer;      // ADDR:PORT
  std::string_view identity;  // key name; "" in open mode
  std::string_view op;        // put, get, list, stat, mkdir, symlink
  std::string_view path;      // as the client sent it (escaped when written)
  std::uint64_t bytes = 0;
  double seconds = 0;
  std::string_view result;   // "ok" or an error code's name
  std::uint64_t offset = 0;  // a resumed upload's first byte; 0 otherwise
};

/// Writes the access line of `record` (if --access-log and info are on).
void access(const AccessRecord& record);

/// Hands buffered lines to the kernel (loop turn, stop, exit).
void flush();

/// The line (with its newline) that `message` at `level` makes under
/// `settings` at time `now`; what error() and the others write.
std::string format_line(const Settings& settings, Level level, std::string_view message,
                        std::chrono::system_clock::time_point now);
/// The same for an access record.
std::string format_access(const Settings& settings, const AccessRecord& record,
                          std::chrono::system_clock::time_point now);
/// `when` as RFC 3339 in UTC with milliseconds: 2026-12-06T05:23:05.123Z.
std::string rfc3339(std::chrono::system_clock::time_point when);

}  // namespace ft::server::log
