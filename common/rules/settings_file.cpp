#include "common/rules/settings_file.hpp"

#include <algorithm>

namespace ft {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_key_char);
}

// What may follow a closing quote or a bare value: nothing, or a comment.
bool only_comment(std::string_view rest) {
  rest = trim(rest);
  return rest.empty() || rest.front() == '#';
}

// Reads the value after '='. Returns false with `why` on a malformed one.
bool parse_value(std::string_view text, std::string& value, std::string& why) {
  text = trim(text);
  if (text.empty()) {
    value.clear();
    return true;
  }
  if (text.front() == '\'') {
    std::size_t close = text.find('\'', 1);
    if (close == std::string_view::npos) {
      why = "missing closing ' in the value";
      return false;
    }
    value = std::string(text.substr(1, close - 1));
    if (!only_comment(text.substr(close + 1))) {
      why = "unexpected text after the quoted value";
      return false;
    }
    return true;
  }
  if (text.front() == '"') {
    value.clear();
    for (std::size_t i = 1; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"') {
        if (!only_comment(text.substr(i + 1))) {
          why = "unexpected text after the quoted value";
          return false;
        }
        return true;
      }
      if (c != '\\') {
        value += c;
        continue;
      }
      if (++i == text.size()) break;
      switch (text[i]) {
        case '"':
        case '\\':
          value += text[i];
          break;
        case 't':
          value += '\t';
          break;
        default:
          why = std::string("unknown escape \\") + text[i] + " in the value (use \\\" \\\\ \\t)";
          return false;
      }
    }
    why = "missing closing \" in the value";
    return false;
  }
  // A bare value ends at a comment, which must follow a space so that a
  // '#' inside a path or a pattern stays part of it.
  std::size_t hash = text.find(" #");
  if (std::size_t tab = text.find("\t#"); tab < hash) hash = tab;
  value = std::string(trim(text.substr(0, hash)));
  return true;
}

}  // namespace

std::optional<std::vector<SettingsSection>> parse_settings(std::string_view text,
                                                           SettingsError& error) {
  std::vector<SettingsSection> sections(1);
  std::size_t line_number = 0;
  auto fail = [&](std::string reason) {
    error = SettingsError{line_number, std::move(reason)};
    return std::nullopt;
  };
  while (!text.empty()) {
    ++line_number;
    std::size_t end = text.find('\n');
    std::string_view raw = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (raw.find('\0') != std::string_view::npos) return fail("a NUL byte (not a text file?)");
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      std::size_t close = line.find(']');
      if (close == std::string_view::npos) return fail("missing ']' after the section name");
      std::string_view name = trim(line.substr(1, close - 1));
      if (!valid_name(name)) {
        return fail("bad section name '" + std::string(name) +
                    "': letters, digits, '-' and '_' only");
      }
      if (!only_comment(line.substr(close + 1))) return fail("unexpected text after ']'");
      for (const SettingsSection& seen : sections) {
        if (seen.line != 0 && seen.name == name) {
          return fail("section [" + std::string(name) + "] already started on line " +
                      std::to_string(seen.line));
        }
      }
      sections.push_back(SettingsSection{std::string(name), line_number, {}});
      continue;
    }
    std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return fail("expected 'key = value', '[section]' or a '#' comment");
    }
    std::string_view key = trim(line.substr(0, equals));
    if (key.empty()) return fail("missing key before '='");
    if (!valid_name(key)) {
      return fail("bad key '" + std::string(key) + "': letters, digits, '-' and '_' only");
    }
    Setting setting;
    setting.line = line_number;
    setting.key = std::string(key);
    std::replace(setting.key.begin(), setting.key.end(), '_', '-');
    std::string why;
    if (!parse_value(line.substr(equals + 1), setting.value, why)) return fail(std::move(why));
    sections.back().settings.push_back(std::move(setting));
  }
  return sections;
}

bool is_switch_value(std::string_view value) {
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
    if (value == word) return true;
  }
  return false;
}

std::string settings_error_text(std::string_view file, std::size_t line, std::string_view reason) {
  std::string out(file);
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  out += reason;
  return out;
}

}  // namespace ft
