#include "common/rules/duration.hpp"

#include <charconv>
#include <cstdint>

namespace ft {

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t unit = 1;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      unit = 0;
      break;
  }
  std::string_view digits = unit == 0 ? text : text.substr(0, text.size() - 1);
  if (unit == 0) unit = 1;
  if (digits.empty()) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  constexpr std::uint64_t kMaxSeconds = 100ull * 366 * 86400;
  if (value > kMaxSeconds / unit) return std::nullopt;
  return std::chrono::seconds(static_cast<std::int64_t>(value * unit));
}

std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text) {
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size() - 2;
    auto [stop, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || stop != end || value > 100ull * 366 * 86400 * 1000) {
      return std::nullopt;
    }
    return std::chrono::milliseconds(value);
  }
  auto seconds = parse_duration(text);
  if (!seconds) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*seconds);
}

}  // namespace ft
