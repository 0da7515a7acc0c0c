#include "client/report/sizes.hpp"

#include <cmath>
#include <cstdio>
#include <iterator>

namespace ft::client {

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t unit = 0;
  // 1023.96 KiB would print as "1024.0 KiB": move up a unit before rounding does.
  while (bytes >= 1023.95 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return out;
}

std::string compact_bytes(double bytes) {
  std::string text = human_bytes(bytes);
  text.erase(text.find(' '), 1);
  return text;
}

std::string short_size(std::uint64_t bytes) {
  static constexpr char kUnits[] = {'K', 'M', 'G', 'T', 'P', 'E'};
  if (bytes < 1024) return std::to_string(bytes);
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  value /= 1024;
  // Like ls: round up, so that a size is never shown smaller than it is.
  auto rounded = [](double v) { return v < 10 ? std::ceil(v * 10) / 10 : std::ceil(v); };
  while (rounded(value) >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  value = rounded(value);
  char out[32];
  std::snprintf(out, sizeof out, value < 10 ? "%.1f%c" : "%.0f%c", value, kUnits[unit]);
  return out;
}

std::string grouped(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string size_text(std::uint64_t bytes, bool human) {
  return human ? human_bytes(static_cast<double>(bytes)) : std::to_string(bytes) + " bytes";
}

}  // namespace ft::client
