#include "common/rules/byte_rate.hpp"

namespace ft {
namespace {

// The multiplier of a unit word (without "/s"); 0 if unknown.
std::uint64_t unit_multiplier(std::string_view unit) {
  if (unit.empty() || unit == "B") return 1;
  const char prefixes[] = {'K', 'M', 'G', 'T'};
  for (unsigned i = 0; i < 4; ++i) {
    const char p = prefixes[i];
    const char lower = static_cast<char>(p - 'A' + 'a');
    if (unit[0] != p && unit[0] != lower) continue;
    std::string_view rest = unit.substr(1);
    if (rest.empty() || rest == "B" || rest == "iB") return std::uint64_t{1} << (10 * (i + 1));
    return 0;
  }
  return 0;
}

}  // namespace

std::optional<std::uint64_t> parse_byte_rate(std::string_view text) {
  if (text.ends_with("/s")) text.remove_suffix(2);
  std::size_t at = 0;
  // Digits are read by hand rather than with strtod, whose decimal point
  // follows the locale.
  std::uint64_t whole = 0;
  std::size_t whole_digits = 0;
  for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++whole_digits) {
    if (whole > kMaxByteRate) return std::nullopt;
    whole = whole * 10 + static_cast<std::uint64_t>(text[at] - '0');
  }
  // Up to six decimals are kept, more than a rate ever needs.
  std::uint64_t fraction = 0;
  std::uint64_t fraction_scale = 1;
  std::size_t fraction_digits = 0;
  if (at < text.size() && text[at] == '.') {
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++fraction_digits) {
      if (fraction_scale < 1000000) {
        fraction = fraction * 10 + static_cast<std::uint64_t>(text[at] - '0');
        fraction_scale *= 10;
      }
    }
    if (fraction_digits == 0) return std::nullopt;  // "10." is a typo
  }
  if (whole_digits == 0) return std::nullopt;
  const std::uint64_t unit = unit_multiplier(text.substr(at));
  if (unit == 0 || whole > kMaxByteRate / unit) return std::nullopt;
  // unit <= 2^40 and fraction < 10^6 < 2^20: the product fits in 64 bits.
  const std::uint64_t bytes =
      whole * unit + (fraction * unit + fraction_scale / 2) / fraction_scale;
  if (bytes > kMaxByteRate) return std::nullopt;
  if (bytes == 0 && fraction != 0) return std::nullopt;  // "0.1" B/s: below one byte
  return bytes;
}

}  // namespace ft
