// libFuzzer target: the path rules, split_path and printable() on arbitrary
// bytes. Traps when an accepted path breaks a rule of docs/protocol.md
// section 6 or printable() lets a terminal control through.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/limits.hpp"
#include "common/rules/path_rules.hpp"

namespace {

using namespace ft;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool has_control(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool has_c1(std::string_view s) {
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) == 0xC2 && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      return true;
    }
  }
  return false;
}

// Any code point that is_hidden_control() flags (bidi, zero-width, C1, ...);
// only called on valid UTF-8.
bool has_hidden(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + length > s.size()) return false;
    std::uint32_t cp = length == 1 ? c : length == 2 ? c & 0x1F : length == 3 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; k < length; ++k)
      cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (is_hidden_control(cp)) return true;
    i += length;
  }
  return false;
}

void check_accepted_path(std::string_view path) {
  check(!path.empty());
  check(path.size() <= limits::kMaxPathBytes);
  check(path.front() != '/' && path.back() != '/');
  check(path.find("//") == std::string_view::npos);
  check(!has_control(path));
  check(is_valid_utf8(path));
  check(!has_hidden(path));
  const std::vector<std::string> parts = split_path(path);
  check(!parts.empty() && parts.size() <= limits::kMaxPathDepth);
  std::string joined;
  for (const std::string& part : parts) {
    check(!part.empty());
    check(part != "." && part != "..");
    check(part.size() <= limits::kMaxComponentBytes);
    check(part.rfind(kReservedPrefix, 0) != 0);
    check(part.find('/') == std::string::npos);
    check(!component_violation(part).has_value());
    if (!joined.empty()) joined += '/';
    joined += part;
  }
  check(joined == path);
}

void check_printable(std::string_view s) {
  const std::string out = printable(s);
  check(is_valid_utf8(out));
  check(!has_control(out));
  check(!has_c1(out));
  check(!has_hidden(out));
  if (is_valid_utf8(s) && !has_control(s) && !has_c1(s) && !has_hidden(s)) check(out == s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  const auto strict = path_violation(path, false);
  const auto rooted = path_violation(path, true);
  if (!strict) check_accepted_path(path);
  // The root flag only ever changes the verdict on the empty path.
  if (!path.empty()) check(strict.has_value() == rooted.has_value());
  if (path.empty()) check(strict.has_value() && !rooted.has_value());
  if (strict) check(!strict->empty());

  const auto name = component_violation(path);
  if (!name) {
    check(path.find('/') == std::string_view::npos);
    check(!path_violation(path, false).has_value());
  }
  (void)split_path(path);
  check_printable(path);
  return 0;
}
