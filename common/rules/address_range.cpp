#include "common/rules/address_range.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ft {
namespace {

// Parses a numeric address into 16 bytes; IPv4-mapped IPv6 becomes IPv4.
bool parse_numeric(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& out) {
  const std::string host(text);
  out.fill(0);
  if (::inet_pton(AF_INET, host.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (::inet_pton(AF_INET6, host.c_str(), out.data()) != 1) return false;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(out.data(), kMapped, sizeof kMapped) == 0) {
    std::memmove(out.data(), out.data() + 12, 4);
    std::memset(out.data() + 4, 0, 12);
    v6 = false;
    return true;
  }
  v6 = true;
  return true;
}

}  // namespace

bool AddressRange::contains(std::string_view host) const {
  bool host_v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  if (!parse_numeric(host, host_v6, bytes) || host_v6 != v6) return false;
  const unsigned whole = prefix / 8;
  if (std::memcmp(bytes.data(), address.data(), whole) != 0) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (bytes[whole] & mask) == (address[whole] & mask);
}

std::optional<std::vector<AddressRange>> parse_address_ranges(std::string_view text,
                                                              std::string& why) {
  std::vector<AddressRange> ranges;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      why = "empty address in the list";
      return std::nullopt;
    }
    AddressRange range;
    const std::size_t slash = item.find('/');
    if (!parse_numeric(item.substr(0, slash), range.v6, range.address)) {
      why = "'" + std::string(item.substr(0, slash)) + "' is not a numeric IPv4 or IPv6 address";
      return std::nullopt;
    }
    range.prefix = range.v6 ? 128 : 32;
    if (slash != std::string_view::npos) {
      const std::string_view bits = item.substr(slash + 1);
      unsigned value = 0;
      auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
      if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() ||
          value > range.prefix) {
        why = "'/" + std::string(bits) + "' is not a prefix length from 0 to " +
              std::to_string(range.prefix);
        return std::nullopt;
      }
      range.prefix = value;
    }
    ranges.push_back(range);
  }
  return ranges;
}

bool any_contains(const std::vector<AddressRange>& ranges, std::string_view host) {
  for (const AddressRange& range : ranges) {
    if (range.contains(host)) return true;
  }
  return false;
}

}  // namespace ft
