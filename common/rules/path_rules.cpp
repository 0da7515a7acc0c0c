#include "common/rules/path_rules.hpp"

#include "common/base/hex.hpp"
#include "common/base/limits.hpp"

namespace ft {

namespace {

// Length of the well-formed UTF-8 sequence at `s[i]` (shortest form, no
// surrogate, at most U+10FFFF) with its code point in `cp`, or 0 when the
// bytes there are not one.
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t len;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr std::uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp;
    std::size_t len = decode_utf8(s, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool is_hidden_control(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

std::optional<std::string> component_violation(std::string_view name, NameRules rules) {
  if (name.empty()) return "empty path component";
  if (name == ".") return "'.' component";
  if (name == "..") return "'..' component";
  if (name.size() > limits::kMaxComponentBytes) {
    return "component longer than " + std::to_string(limits::kMaxComponentBytes) + " bytes";
  }
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == 0) return "NUL byte";
    if (c == '/') return "'/' inside a name";
    if (rules == NameRules::kPortable && (c < 0x20 || c == 0x7F)) return "control character";
  }
  for (std::size_t i = 0; rules == NameRules::kPortable && i < name.size();) {
    std::uint32_t cp;
    std::size_t len = decode_utf8(name, i, cp);
    if (len == 0) return "invalid UTF-8";
    if (is_hidden_control(cp)) return "invisible control character (C1, bidi or zero-width)";
    i += len;
  }
  if (name.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
    return "name reserved for the server ('" + std::string(kReservedPrefix) + "' prefix)";
  }
  return std::nullopt;
}

std::optional<std::string> path_violation(std::string_view path, bool allow_root, NameRules rules) {
  if (path.empty()) {
    if (allow_root) return std::nullopt;
    return "empty path";
  }
  if (path.size() > limits::kMaxPathBytes) {
    return "path longer than " + std::to_string(limits::kMaxPathBytes) + " bytes";
  }
  if (path.front() == '/') return "absolute path";
  if (path.back() == '/') return "trailing '/'";
  std::size_t depth = 0;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (++depth > limits::kMaxPathDepth) {
      return "more than " + std::to_string(limits::kMaxPathDepth) + " components";
    }
    if (auto why = component_violation(path.substr(start, slash - start), rules)) return why;
    start = slash + 1;
  }
  return std::nullopt;
}

std::optional<std::string> symlink_target_violation(std::string_view link_path,
                                                    std::string_view target) {
  if (target.empty()) return "empty link target";
  if (target.size() > limits::kMaxPathBytes) return "link target too long";
  if (target.front() == '/') return "absolute link target";
  if (target.find('\0') != std::string_view::npos) return "NUL byte in link target";
  // Depth of the link's directory below the root, then walk the target.
  std::size_t depth = 0;
  for (char c : link_path) depth += c == '/';
  std::size_t start = 0;
  while (start <= target.size()) {
    std::size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    std::string_view part = target.substr(start, slash - start);
    if (part == "..") {
      if (depth == 0) return "link target leads outside the tree";
      --depth;
    } else if (!part.empty() && part != ".") {
      // A name in the target follows the rules of a name in a path: a link
      // may not lead to the server's own files, nor hide controls.
      if (auto why = component_violation(part)) return "link target: " + *why;
      ++depth;
    }
    start = slash + 1;
  }
  return std::nullopt;
}

std::optional<std::string> archive_target_violation(std::string_view target) {
  if (target.empty()) return "empty link target";
  if (target.size() > limits::kMaxPathBytes) return "link target too long";
  if (target.find('\0') != std::string_view::npos) return "NUL byte in link target";
  std::size_t start = 0;
  while (start <= target.size()) {
    std::size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    if (target.substr(start, slash - start).starts_with(kReservedPrefix)) {
      return "link target: name reserved for the server ('" + std::string(kReservedPrefix) +
             "' prefix)";
    }
    start = slash + 1;
  }
  return std::nullopt;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto escape = [&](unsigned char c) {
    out += "\\x";
    out += hex_digit_of(c >> 4);
    out += hex_digit_of(c);
  };
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp;
    std::size_t len = decode_utf8(s, i, cp);
    if (len == 0) {
      escape(static_cast<unsigned char>(s[i]));  // a stray byte, alone
      ++i;
    } else if (cp < 0x20 || cp == 0x7F || is_hidden_control(cp)) {
      // Shown byte by byte: a C1, bidi or zero-width character acts on the
      // terminal or hides in the text, so it must be seen, not applied.
      for (std::size_t k = 0; k < len; ++k) escape(static_cast<unsigned char>(s[i + k]));
      i += len;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace ft
