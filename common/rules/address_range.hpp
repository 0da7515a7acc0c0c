#pragma once
// Address ranges (ftserve --proxy-protocol): a list of IPv4 or IPv6
// addresses, each optionally with a prefix length, "127.0.0.1,10.1.0.0/16,
// ::1". Matched against a peer's numeric address.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ft {

struct AddressRange {
  bool v6 = false;
  std::array<std::uint8_t, 16> address{};  // the first 4 bytes for IPv4
  unsigned prefix = 32;                    // bits that must match

  /// Whether the numeric address `host` ("192.0.2.1", "::1") is in range.
  /// An IPv4-mapped IPv6 address ("::ffff:192.0.2.1") counts as IPv4.
  bool contains(std::string_view host) const;
};

/// Parses "ADDR[/BITS][,ADDR[/BITS]...]" (numeric addresses only: a name
/// could resolve differently later). nullopt with `why` on error.
std::optional<std::vector<AddressRange>> parse_address_ranges(std::string_view text,
                                                              std::string& why);

/// Whether any range contains `host`.
bool any_contains(const std::vector<AddressRange>& ranges, std::string_view host);

}  // namespace ft
