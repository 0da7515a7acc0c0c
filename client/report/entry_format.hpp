#pragma once
// How ftls prints directory entries: names only, the long form (-l) or one
// JSON object per line (--json). Names from the server are shown through
// printable() in the text forms and passed as-is in JSON, escaped there by
// the JSON library (and escape_hidden_controls()).
#include <ctime>
#include <string>
#include <vector>

#include "common/rules/errors.hpp"
#include "common/wire/messages.hpp"

namespace ft::client {

enum class ListFormat { kNames, kLong, kJson };

/// "-rw-r--r--", "drwxr-xr-x", "lrwxrwxrwx" (set-id and sticky bits as s/S, t/T).
std::string mode_string(EntryType type, std::uint32_t mode);
/// "YYYY-MM-DD HH:MM:SS" in local time.
std::string local_time_string(std::int64_t mtime_ns);
/// "file", "dir", "symlink" or "other".
std::string_view entry_type_name(EntryType type);
/// One JSON object (no newline).
std::string entry_json(const Entry& entry);
/// `json` (the text of a JSON value, valid UTF-8) with every hidden control
/// character (C1, bidi, zero-width: is_hidden_control() of path_rules.hpp)
/// written as a \uXXXX escape, which JSON readers decode to the same text
/// but a terminal shows as what it is. The JSON library escapes the C0
/// controls itself.
std::string escape_hidden_controls(std::string_view json);

/// A failure in ftls --json's stream, one object (no newline):
/// {"type":"error","path":...,"code":"NOT_FOUND","message":...}.
std::string error_json(std::string_view path, const Error& error);

/// The size column of the long form: the bytes, or with `human` ls -h's
/// short form ("1.5K").
std::string size_column(std::uint64_t size, bool human);

/// One line (without '\n') for `entry` in `format`, showing `name` (a
/// path relative to the listed directory with -r); `size_width` pads the
/// size column of the long form, and `human` writes it as "1.5K". A
/// directory's name ends in '/' in the text forms, and a link's shows
/// "-> target" in the long form.
std::string format_entry(const Entry& entry, std::string_view name, ListFormat format,
                         std::size_t size_width, bool human = false);
/// The width of the widest size column among `entries` (for the long form).
std::size_t size_column_width(const std::vector<Entry>& entries, bool human = false);

/// The lines ftls prints for `entries` in `format`, each ending in '\n'.
std::string format_entries(const std::vector<Entry>& entries, ListFormat format,
                           bool human = false);

}  // namespace ft::client
