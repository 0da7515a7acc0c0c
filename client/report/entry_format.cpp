#include "client/report/entry_format.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/report/sizes.hpp"
#include "common/rules/path_rules.hpp"

namespace ft::client {

std::string mode_string(EntryType type, std::uint32_t mode) {
  std::string out = "?rwxrwxrwx";
  switch (type) {
    case EntryType::kFile:
      out[0] = '-';
      break;
    case EntryType::kDirectory:
      out[0] = 'd';
      break;
    case EntryType::kSymlink:
      out[0] = 'l';
      break;
    case EntryType::kOther:
      out[0] = '?';
      break;
  }
  for (int bit = 0; bit < 9; ++bit) {
    if ((mode & (0400u >> bit)) == 0) out[1 + bit] = '-';
  }
  // The execute slot of each class also shows its special bit.
  auto special = [&](std::size_t at, std::uint32_t flag, char with_x, char without_x) {
    if ((mode & flag) != 0) out[at] = out[at] == 'x' ? with_x : without_x;
  };
  special(3, 04000, 's', 'S');
  special(6, 02000, 's', 'S');
  special(9, 01000, 't', 'T');
  return out;
}

std::string local_time_string(std::int64_t mtime_ns) {
  std::int64_t sec = mtime_ns / 1'000'000'000;
  if (mtime_ns % 1'000'000'000 < 0) --sec;
  const auto t = static_cast<std::time_t>(sec);
  std::tm tm{};
  if (::localtime_r(&t, &tm) == nullptr) return std::to_string(sec);
  char buffer[64];
  std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(buffer, n);
}

std::string_view entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::kFile:
      return "file";
    case EntryType::kDirectory:
      return "dir";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kOther:
      return "other";
  }
  return "other";
}

std::string entry_json(const Entry& entry) {
  // ordered_json keeps the documented key order.
  nlohmann::ordered_json j = {
      {"name", entry.name}, {"type", entry_type_name(entry.type)},
      {"size", entry.size}, {"mtime_ns", entry.mtime_ns},
      {"mode", entry.mode},
  };
  if (entry.type == EntryType::kSymlink && !entry.target.empty()) j["target"] = entry.target;
  // Names the server sent are checked to be valid UTF-8, but replace rather
  // than throw should one ever slip through.
  return escape_hidden_controls(
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string escape_hidden_controls(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    const auto lead = static_cast<unsigned char>(json[i]);
    const std::size_t length = lead < 0x80             ? 1
                               : (lead & 0xE0) == 0xC0 ? 2
                               : (lead & 0xF0) == 0xE0 ? 3
                               : (lead & 0xF8) == 0xF0 ? 4
                                                       : 1;
    if (length == 1 || i + length > json.size()) {
      out += json[i++];
      continue;
    }
    std::uint32_t code_point = lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      code_point = (code_point << 6) | (static_cast<unsigned char>(json[i + k]) & 0x3F);
    }
    if (is_hidden_control(code_point) && code_point <= 0xFFFF) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(code_point));
      out += escaped;
    } else {
      out.append(json.substr(i, length));
    }
    i += length;
  }
  return out;
}

std::string error_json(std::string_view path, const Error& error) {
  nlohmann::ordered_json j = {
      {"type", "error"},
      {"path", path},
      {"code", to_string(error.code)},
      {"message", error.message.empty() ? std::string(default_message(error.code)) : error.message},
  };
  return escape_hidden_controls(
      j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string size_column(std::uint64_t size, bool human) {
  return human ? short_size(size) : std::to_string(size);
}

std::size_t size_column_width(const std::vector<Entry>& entries, bool human) {
  std::size_t width = 1;
  for (const Entry& e : entries) width = std::max(width, size_column(e.size, human).size());
  return width;
}

std::string format_entry(const Entry& entry, std::string_view name, ListFormat format,
                         std::size_t size_width, bool human) {
  const char* mark = entry.type == EntryType::kDirectory ? "/" : "";
  switch (format) {
    case ListFormat::kNames:
      return printable(name) + mark;
    case ListFormat::kLong: {
      std::string size = size_column(entry.size, human);
      if (size.size() < size_width) size.insert(0, size_width - size.size(), ' ');
      std::string out = mode_string(entry.type, entry.mode) + ' ' + size + ' ' +
                        local_time_string(entry.mtime_ns) + ' ' + printable(name) + mark;
      if (entry.type == EntryType::kSymlink && !entry.target.empty()) {
        out += " -> " + printable(entry.target);
      }
      return out;
    }
    case ListFormat::kJson: {
      Entry copy = entry;
      copy.name = std::string(name);
      return entry_json(copy);
    }
  }
  return {};
}

std::string format_entries(const std::vector<Entry>& entries, ListFormat format, bool human) {
  std::string out;
  const std::size_t width = format == ListFormat::kLong ? size_column_width(entries, human) : 1;
  for (const Entry& e : entries) out += format_entry(e, e.name, format, width, human) + '\n';
  return out;
}

}  // namespace ft::client
