#pragma once
// The syntax of ft's configuration files (ftserve --config, the clients'
// profile file; docs/server.md "Configuration file", docs/client.md
// "Profiles"): a small subset of TOML and INI that both read the same way.
//
//   # a comment (also after a value, preceded by a space)
//   key = value          bare: the rest of the line, trimmed
//   key = "a value"      double-quoted: \" \\ \t escapes; a '#' inside stays
//   key = 'a value'      single-quoted: taken literally
//   [name]               starts the section `name` (a client profile)
//
// Keys are letters, digits, '-' and '_'; '_' reads as '-' so that
// `max_connections` and `max-connections` are one key. The parser is pure:
// what the keys mean, and whether one may repeat, is up to its caller.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ft {

/// One `key = value` line.
struct Setting {
  std::size_t line = 0;  // 1-based
  std::string key;       // '_' already turned into '-'
  std::string value;     // quotes removed, escapes resolved
};

/// The settings under one `[name]` header; the first section of a file is
/// the one before any header (name "", line 0).
struct SettingsSection {
  std::string name;
  std::size_t line = 0;
  std::vector<Setting> settings;
};

/// Where and why a file did not parse.
struct SettingsError {
  std::size_t line = 0;
  std::string reason;
};

/// Parses a whole file's text. On the first malformed line returns nullopt
/// and fills `error` with its line number and what is wrong.
std::optional<std::vector<SettingsSection>> parse_settings(std::string_view text,
                                                           SettingsError& error);

/// True for the values a switch (a flag such as read-only) may take in a
/// file: true/false, yes/no, on/off, 1/0 (what CLI11 accepts).
bool is_switch_value(std::string_view value);

/// "FILE:LINE: REASON", the form every config error is reported in.
std::string settings_error_text(std::string_view file, std::size_t line, std::string_view reason);

}  // namespace ft
