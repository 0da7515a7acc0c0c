#include "server/log/log.hpp"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "common/rules/path_rules.hpp"

namespace ft::server::log {
namespace {

Settings g_settings;

// `when` as RFC 3339 in UTC with milliseconds, appended without allocating.
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(when.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  const int millis = static_cast<int>(((ms % 1000) + 1000) % 1000);
  // gmtime_r, not localtime_r: UTC needs no time zone file and no lock, and
  // "Z" reads the same on every host of a fleet.
  struct tm parts {};
  ::gmtime_r(&seconds, &parts);
  char text[40];
  const int n = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                              parts.tm_min, parts.tm_sec, millis);
  if (n > 0) out.append(text, static_cast<std::size_t>(n));
}

// sd-daemon.h's prefixes, indexed by Level.
constexpr const char* kJournalPrefix[] = {SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG};
constexpr std::string_view kLevelName[] = {"error", "warn", "info", "debug"};

// The start of every line: "<ts> <level> " as text, "<N>" under the
// journal, and the JSON object's first members.
void append_head(std::string& out, const Settings& settings, Level level,
                 std::chrono::system_clock::time_point now) {
  const auto index = static_cast<int>(level);
  if (settings.journal) out += kJournalPrefix[index];
  if (settings.format == Format::kJson) {
    out += "{\"time\":\"";
    append_rfc3339(out, now);
    out += "\",\"level\":\"";
    out += kLevelName[index];
    out += "\",";
  } else if (!settings.journal) {
    append_rfc3339(out, now);
    out += ' ';
    out += kLevelName[index];
    out += ' ';
  }
}

// `text` as the log shows it: printable (path_rules.hpp: controls, invalid
// UTF-8 and invisible characters as \xHH), with its own backslashes as \x5c
// so that every backslash shown starts an escape, and where `quotes` (the
// text form's quoted values) its double quotes as \x22.
std::string shown(std::string_view text, bool quotes) {
  const std::string_view special = quotes ? "\"\\" : "\\";
  if (text.find_first_of(special) == std::string_view::npos) return printable(text);
  std::string escaped;
  escaped.reserve(text.size() + 8);
  for (char c : text) {
    if (c == '\\') {
      escaped += "\\x5c";
    } else if (c == '"' && quotes) {
      escaped += "\\x22";
    } else {
      escaped += c;
    }
  }
  return printable(escaped);
}

// A JSON string: shown() (for a field) or printable() (for a message,
// whose text reads as in the text form) makes it valid UTF-8; then the two
// characters JSON requires escaped.
void append_json_string(std::string& out, std::string_view text, bool field = true) {
  out += '"';
  for (char c : field ? shown(text, false) : printable(text)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

// A quoted value of the text form.
void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  out += shown(text, true);
  out += '"';
}

void append_message(std::string& out, const Settings& settings, Level level,
                    std::string_view message, std::chrono::system_clock::time_point now) {
  append_head(out, settings, level, now);
  if (settings.format == Format::kJson) {
    out += "\"msg\":";
    append_json_string(out, message, false);
    out += '}';
  } else {
    out += message;
  }
  out += '\n';
}

void append_number(std::string& out, const char* format, double value) {
  char text[32];
  const int n = std::snprintf(text, sizeof text, format, value);
  if (n > 0) out.append(text, static_cast<std::size_t>(n));
}

void append_access(std::string& out, const Settings& settings, const AccessRecord& r,
                   std::chrono::system_clock::time_point now) {
  append_head(out, settings, Level::kInfo, now);
  if (settings.format == Format::kJson) {
    out += "\"event\":\"access\",\"peer\":";
    append_json_string(out, r.peer);
    out += ",\"identity\":";
    if (r.identity.empty()) {
      out += "null";
    } else {
      append_json_string(out, r.identity);
    }
    out += ",\"op\":\"";
    out += r.op;
    out += "\",\"path\":";
    append_json_string(out, r.path);
    out += ",\"bytes\":";
    out += std::to_string(r.bytes);
    out += ",\"duration\":";
    append_number(out, "%.6f", r.seconds);
    out += ",\"result\":";
    append_json_string(out, r.result);
    out += ",\"offset\":";
    out += std::to_string(r.offset);
    out += "}\n";
    return;
  }
  out += "access peer=";
  out += r.peer;
  out += " identity=";
  if (r.identity.empty()) {
    out += '-';
  } else {
    out += shown(r.identity, false);
  }
  out += " op=";
  out += r.op;
  out += " path=";
  append_quoted(out, r.path);
  out += " bytes=";
  out += std::to_string(r.bytes);
  out += " duration=";
  append_number(out, "%.6f", r.seconds);
  out += " result=";
  out += r.result;
  if (r.offset > 0) {
    out += " offset=";
    out += std::to_string(r.offset);
  }
  out += '\n';
}

// One buffer per thread, reused: a line costs no allocation once warm.
std::string& line_buffer() {
  thread_local std::string buffer;
  buffer.clear();
  return buffer;
}

void emit(const std::string& line) {
  // One call per whole line: stdio locks the stream around it.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void vmessage(Level level, const char* format, std::va_list args) {
  if (!enabled(level)) return;
  char text[1024];
  std::va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(text, sizeof text, format, copy);
  va_end(copy);
  if (n < 0) return;
  std::string long_text;
  std::string_view message(text, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof text));
  if (static_cast<std::size_t>(n) >= sizeof text) {
    long_text.resize(static_cast<std::size_t>(n) + 1);
    std::vsnprintf(long_text.data(), long_text.size(), format, args);
    long_text.resize(static_cast<std::size_t>(n));
    message = long_text;
  }
  std::string& line = line_buffer();
  append_message(line, g_settings, level, message, std::chrono::system_clock::now());
  emit(line);
}

}  // namespace

void configure(const Settings& settings) {
  g_settings = settings;
}

const Settings& settings() {
  return g_settings;
}

std::optional<Level> parse_level(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (kLevelName[i] == name) return static_cast<Level>(i);
  }
  if (name == "warning") return Level::kWarn;  // syslog's and journalctl's word
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  return kLevelName[static_cast<int>(level)];
}

bool is_journal_stream(int fd) {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  char extra = 0;
  if (std::sscanf(stream, "%llu:%llu%c", &device, &inode, &extra) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  // A process whose stderr was redirected elsewhere keeps the variable it
  // inherited: only the very stream counts.
  return static_cast<unsigned long long>(st.st_dev) == device &&
         static_cast<unsigned long long>(st.st_ino) == inode;
}

bool enabled(Level level) {
  return static_cast<int>(level) <= static_cast<int>(g_settings.level);
}

#define FT_LOG_FUNCTION(name, level)   \
  void name(const char* format, ...) { \
    std::va_list args;                 \
    va_start(args, format);            \
    vmessage(level, format, args);     \
    va_end(args);                      \
  }
FT_LOG_FUNCTION(error, Level::kError)
FT_LOG_FUNCTION(warn, Level::kWarn)
FT_LOG_FUNCTION(info, Level::kInfo)
FT_LOG_FUNCTION(debug, Level::kDebug)
#undef FT_LOG_FUNCTION

void access(const AccessRecord& record) {
  if (!g_settings.access || !enabled(Level::kInfo)) return;
  std::string& line = line_buffer();
  append_access(line, g_settings, record, std::chrono::system_clock::now());
  emit(line);
}

void flush() {
  std::fflush(stderr);
}

std::string format_line(const Settings& settings, Level level, std::string_view message,
                        std::chrono::system_clock::time_point now) {
  std::string line;
  append_message(line, settings, level, message, now);
  return line;
}

std::string format_access(const Settings& settings, const AccessRecord& record,
                          std::chrono::system_clock::time_point now) {
  std::string line;
  append_access(line, settings, record, now);
  return line;
}

std::string rfc3339(std::chrono::system_clock::time_point when) {
  std::string text;
  append_rfc3339(text, when);
  return text;
}

}  // namespace ft::server::log
